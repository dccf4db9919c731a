#!/bin/bash

__portctl_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__portctl_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__portctl_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__portctl_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_portctl() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __portctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    open|close|deny|reject|remove|list|status|audit|probe|explain|render|plan|apply|check|confirm|rollback|history|diff|disable|default|forward|route|metrics|drops|trace|watch|ban|unban|bans|import|help)
        # Offer subcommand argument completions
        "_portctl_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'open close deny reject remove list status audit probe explain render plan apply check confirm rollback history diff disable default forward route metrics drops trace watch ban unban bans import help' -- "${cur}"))
        ;;
    esac
}

_portctl_open() {
    repeating_flags=()
    non_repeating_flags=(--out --only --log --dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from --to)
    non_repeating_options=(--from-file --in-interface --interface --out-interface --comment --id --limit --for --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--to')
        return
        ;;
    '--from-file')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--comment')
        return
        ;;
    '--id')
        return
        ;;
    '--limit')
        return
        ;;
    '--for')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_close() {
    repeating_flags=()
    non_repeating_flags=(--out --dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from --to)
    non_repeating_options=(--from-file --in-interface --interface --out-interface --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--to')
        return
        ;;
    '--from-file')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_deny() {
    repeating_flags=()
    non_repeating_flags=(--out --only --log --routed --dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from --to)
    non_repeating_options=(--from-file --in-interface --interface --out-interface --comment --id --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--to')
        return
        ;;
    '--from-file')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--comment')
        return
        ;;
    '--id')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_reject() {
    repeating_flags=()
    non_repeating_flags=(--out --only --log --routed --dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from --to)
    non_repeating_options=(--from-file --in-interface --interface --out-interface --comment --id --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--to')
        return
        ;;
    '--from-file')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--comment')
        return
        ;;
    '--id')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_remove() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --force --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_list() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_status() {
    repeating_flags=()
    non_repeating_flags=(--json --nagios --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--warn-drops --crit-drops --save-listing --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--warn-drops')
        return
        ;;
    '--crit-drops')
        return
        ;;
    '--save-listing')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_audit() {
    repeating_flags=()
    non_repeating_flags=(--json --all --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_probe() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--timeout)
    __portctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--timeout')
        return
        ;;
    esac
}

_portctl_explain() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--in-interface --interface --to --out-interface --plan --policy)
    __portctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--in-interface'|'--interface')
        return
        ;;
    '--to')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--plan')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_render() {
    repeating_flags=()
    non_repeating_flags=(--verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_plan() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--format -o --output --live --new --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--format')
        __portctl_add_completions -W 'text'$'\n''json'$'\n''nft'$'\n''markdown'
        return
        ;;
    '-o'|'--output')
        return
        ;;
    '--live')
        return
        ;;
    '--new')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_apply() {
    repeating_flags=()
    non_repeating_flags=(--boot --dry-run --force --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--new --expect-digest --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--new')
        return
        ;;
    '--expect-digest')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_check() {
    repeating_flags=()
    non_repeating_flags=(--verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_confirm() {
    repeating_flags=()
    non_repeating_flags=(--verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_rollback() {
    repeating_flags=()
    non_repeating_flags=(--force --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--to --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--to')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_history() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_diff() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=(--format)
    __portctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--format')
        __portctl_add_completions -W 'text'$'\n''json'$'\n''markdown'
        return
        ;;
    esac
}

_portctl_disable() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --force --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--confirm --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_default() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --force --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--confirm --policy)
    __portctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __portctl_add_completions -W 'inbound'$'\n''outbound'$'\n''published'$'\n''routed'
        return
        ;;
    esac
}

_portctl_forward() {
    repeating_flags=()
    non_repeating_flags=(--masquerade --only --dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from)
    non_repeating_options=(--to --in-interface --interface --comment --id --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--to')
        return
        ;;
    '--from')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--comment')
        return
        ;;
    '--id')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_route() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --force --json --verbose --version -h --help)
    repeating_options=(--from --to)
    non_repeating_options=(--in-interface --interface --out-interface --comment --id --confirm --policy)
    __portctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--to')
        return
        ;;
    '--in-interface'|'--interface')
        return
        ;;
    '--out-interface')
        return
        ;;
    '--comment')
        return
        ;;
    '--id')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_metrics() {
    repeating_flags=()
    non_repeating_flags=(--verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--textfile --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--textfile')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_drops() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=(--port --from --reason)
    non_repeating_options=(--since --top --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--since')
        return
        ;;
    '--port')
        return
        ;;
    '--from')
        return
        ;;
    '--reason')
        return
        ;;
    '--top')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_trace() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--proto --to --timeout --count --policy)
    __portctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--proto')
        return
        ;;
    '--to')
        return
        ;;
    '--timeout')
        return
        ;;
    '--count')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_watch() {
    repeating_flags=()
    non_repeating_flags=(--json --top --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--from --verdict --count --timeout --policy)
    __portctl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--verdict')
        return
        ;;
    '--count')
        return
        ;;
    '--timeout')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_ban() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --force --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--for --from-file --comment --confirm --policy)
    __portctl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--for')
        return
        ;;
    '--from-file')
        return
        ;;
    '--comment')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_unban() {
    repeating_flags=()
    non_repeating_flags=(--verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_bans() {
    repeating_flags=()
    non_repeating_flags=(--json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--policy')
        return
        ;;
    esac
}

_portctl_import() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __portctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    ufw)
        # Offer subcommand argument completions
        "_portctl_import_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'ufw' -- "${cur}"))
        ;;
    esac
}

_portctl_import_ufw() {
    repeating_flags=()
    non_repeating_flags=(--dry-run --partial --replace --json --verbose --version -h --help)
    repeating_options=()
    non_repeating_options=(--rules --defaults --limit --confirm --policy)
    __portctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--rules')
        return
        ;;
    '--defaults')
        return
        ;;
    '--limit')
        return
        ;;
    '--confirm')
        return
        ;;
    '--policy')
        return
        ;;
    esac
}

_portctl_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __portctl_offer_flags_options -1
}

complete -o filenames -F _portctl portctl
