#compdef portctl

__portctl_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__portctl_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __portctl_complete "${completions[@]:0:-1}"
    fi
}

__portctl_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_portctl() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'open:Allow ports, from the given sources (or from any source).'
            'close:Remove what opened ports (or only some of its sources).'
            'deny:Drop traffic to ports silently (clients see '\''filtered'\''); wins over any allow.'
            'reject:Refuse traffic to ports (TCP reset, ICMP port-unreachable for UDP); wins over any allow.'
            'remove:Remove one rule, of any kind, by its id (see portctl list).'
            'list:Show the policy'\''s defaults and rules.'
            'status:Show every rule with its live packet and byte counters, and whether the kernel matches the policy.'
            'audit:Compare what listens on this host with what the firewall lets in; exit 3 on a high-severity finding.'
            'probe:Probe TCP ports of a host: open (handshake), closed (reset) or filtered (silence or ICMP unreachable), like an nmap connect scan.'
            'explain:Say what the policy does with a new inbound packet from ADDRESS to PORT, and which rule decides it.'
            'render:Print the nftables table the policy renders to. Needs no root; touches no kernel.'
            'plan:Show what '\''portctl apply'\'' would change in the kernel; change nothing.'
            'apply:Apply the policy file as it stands, or a saved plan exactly as reviewed.'
            'check:Validate the policy file and its rendered ruleset (the kernel checks it too, with CAP_NET_ADMIN).'
            'confirm:Keep the change applied with --confirm (run it from a new connection: that proves you can still get in).'
            'rollback:Restore the policy file and ruleset in force before the last applied change (run it again to redo).'
            'history:List applied changes: when, by whom, from where, and what changed (the last 50 are kept).'
            'diff:Show what differs between two policy files, rule by rule; no kernel, no root.'
            'disable:Remove portctl'\''s nftables table; the policy file stays, and '\''portctl apply'\'' restores it.'
            'default:Set a default: inbound drop|reject|accept, outbound accept|drop, published filter|accept, routed accept|drop.'
            'forward:Forward ports arriving here to another address (a router'\''s port forwarding), from the given sources.'
            'route:Allow traffic this host routes from some networks to others, on these ports (segmentation).'
            'metrics:Print Prometheus metrics: every rule'\''s packets and bytes, the defaults, in sync or not, audit findings.'
            'drops:List the connections the firewall refused lately: source, port, packets, last seen, and what refused them.'
            'trace:Show the path of real packets from SOURCE to PORT through every nftables table, and the kernel'\''s verdict next to explain'\''s.'
            'watch:Print each new connection attempt as it happens: source, port, the kernel'\''s verdict, and the rule, default or table that decided it.'
            'ban:Drop every new inbound connection from these addresses or networks, on every port, before any allow (fail2ban'\''s action).'
            'unban:Lift bans made with portctl ban.'
            'bans:List the bans in force: address, expiry, comment; and the packets they dropped.'
            'import:Write a portctl policy from another firewall'\''s configuration (ufw).'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        open|close|deny|reject|remove|list|status|audit|probe|explain|render|plan|apply|check|confirm|rollback|history|diff|disable|default|forward|route|metrics|drops|trace|watch|ban|unban|bans|import|help)
            "_portctl_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_portctl_open() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '*--from[Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it\: any source.]:addr:'
        '*--to[Outbound rule\: destination addresses or CIDRs, comma-separated; repeatable; @FILE names an address file the policy keeps reading, as for --from.]:addr:'
        '--from-file[Source addresses from a file, a pipe or - (standard input)\: one address or CIDR per line, # comments allowed, at most 32 MiB.]:file:'
        '--out[Make an outbound rule (matches destination port; --to names destinations).]'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface (inbound and --routed rules); a trailing * matches a prefix.]:name:'
        '--out-interface[Only traffic leaving by this interface (outbound rules, made with --out, and --routed rules); a trailing * matches a prefix.]:name:'
        '--comment[A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).]:text:'
        '--id[The rule id (a letter, then letters, digits, '\''.'\'', '\''_'\'', '\''-'\''); derived from the ports when omitted.]:id:'
        '--only[Make the rule'\''s sources exactly the --from list, in one change (instead of adding them to what it has).]'
        '--log[Log matching packets (at most 10 lines a minute) with the prefix '\''portctl ID\: '\''.]'
        '--limit[Limit new connections per source address, like 6/minute (also /second, /hour, /day); the rest are dropped.]:rate:'
        '--for[Close again by itself after this long (90s, 30m, 2h, 1d)\: the kernel expires it, no daemon needed.]:duration:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_close() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '*--from[Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it\: any source.]:addr:'
        '*--to[Outbound rule\: destination addresses or CIDRs, comma-separated; repeatable; @FILE names an address file the policy keeps reading, as for --from.]:addr:'
        '--from-file[Source addresses from a file, a pipe or - (standard input)\: one address or CIDR per line, # comments allowed, at most 32 MiB.]:file:'
        '--out[Make an outbound rule (matches destination port; --to names destinations).]'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface (inbound and --routed rules); a trailing * matches a prefix.]:name:'
        '--out-interface[Only traffic leaving by this interface (outbound rules, made with --out, and --routed rules); a trailing * matches a prefix.]:name:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_deny() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '*--from[Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it\: any source.]:addr:'
        '*--to[Outbound rule\: destination addresses or CIDRs, comma-separated; repeatable; @FILE names an address file the policy keeps reading, as for --from.]:addr:'
        '--from-file[Source addresses from a file, a pipe or - (standard input)\: one address or CIDR per line, # comments allowed, at most 32 MiB.]:file:'
        '--out[Make an outbound rule (matches destination port; --to names destinations).]'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface (inbound and --routed rules); a trailing * matches a prefix.]:name:'
        '--out-interface[Only traffic leaving by this interface (outbound rules, made with --out, and --routed rules); a trailing * matches a prefix.]:name:'
        '--comment[A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).]:text:'
        '--id[The rule id (a letter, then letters, digits, '\''.'\'', '\''_'\'', '\''-'\''); derived from the ports when omitted.]:id:'
        '--only[Make the rule'\''s sources exactly the --from list, in one change (instead of adding them to what it has).]'
        '--log[Log matching packets (at most 10 lines a minute) with the prefix '\''portctl ID\: '\''.]'
        '--routed[Block routed traffic (this host as a router, no DNAT)\: --from names senders, --to receivers.]'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_reject() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '*--from[Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it\: any source.]:addr:'
        '*--to[Outbound rule\: destination addresses or CIDRs, comma-separated; repeatable; @FILE names an address file the policy keeps reading, as for --from.]:addr:'
        '--from-file[Source addresses from a file, a pipe or - (standard input)\: one address or CIDR per line, # comments allowed, at most 32 MiB.]:file:'
        '--out[Make an outbound rule (matches destination port; --to names destinations).]'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface (inbound and --routed rules); a trailing * matches a prefix.]:name:'
        '--out-interface[Only traffic leaving by this interface (outbound rules, made with --out, and --routed rules); a trailing * matches a prefix.]:name:'
        '--comment[A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).]:text:'
        '--id[The rule id (a letter, then letters, digits, '\''.'\'', '\''_'\'', '\''-'\''); derived from the ports when omitted.]:id:'
        '--only[Make the rule'\''s sources exactly the --from list, in one change (instead of adding them to what it has).]'
        '--log[Log matching packets (at most 10 lines a minute) with the prefix '\''portctl ID\: '\''.]'
        '--routed[Block routed traffic (this host as a router, no DNAT)\: --from names senders, --to receivers.]'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_remove() {
    local -i ret=1
    local -ar arg_specs=(
        ':id:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_list() {
    local -i ret=1
    local -ar arg_specs=(
        '--json[Print the policy as JSON (the policy file'\''s shape).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_status() {
    local -i ret=1
    local -ar arg_specs=(
        '--json[Print the status as JSON.]'
        '--nagios[Print one monitoring-plugins line (Nagios, Icinga) and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.]'
        '--warn-drops[With --nagios\: WARNING when more than this many packets were refused on any one port (banned sources left out) from the sources the drop record holds (defaults.drops, 10m unless the policy says otherwise).]:packets:'
        '--crit-drops[With --nagios\: CRITICAL when more than this many packets were refused on any one port (no smaller than --warn-drops).]:packets:'
        '--save-listing[Save the kernel'\''s listing of portctl'\''s table (JSON, as '\''nft -j list table'\'' gives it) to this file, for '\''portctl plan --live FILE'\'' elsewhere (- for standard output).]:file:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_audit() {
    local -i ret=1
    local -ar arg_specs=(
        '--json[Print the report as JSON\: the view judged, the findings, and with --all the listeners.]'
        '--all[List every listener (TCP and UDP, IPv4 and IPv6) with who may reach it\: address, port, process, the rule or default that decides, the sources admitted.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_probe() {
    local -i ret=1
    local -ar arg_specs=(
        ':host:'
        ':ports:'
        '--timeout[Seconds to wait for each port (all ports are probed at once).]:timeout:'
        '--json[Print the results as JSON.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_explain() {
    local -i ret=1
    local -ar arg_specs=(
        ':address:'
        ':port\[/proto\]:'
        '(--in-interface --interface)'{--in-interface,--interface}'[The interface the packet arrives on (rules may be limited to one).]:name:'
        '--to[Explain a packet this host would route to this address (not to this host)\: route rules and the routed default decide.]:addr:'
        '--out-interface[With --to\: the interface the routed packet leaves by.]:name:'
        '--plan[Explain against the policy inside this saved plan instead of the policy file.]:file:'
        '--json[Print the explanation as JSON.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_render() {
    local -i ret=1
    local -ar arg_specs=(
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_plan() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'nft' 'markdown')
    local -ar arg_specs=(
        '--json[Print the plan as JSON (same as --format json).]'
        '--format[text (default), json, nft (the exact batch apply sends), or markdown (a review comment).]:format:{__portctl_complete "${___format[@]}"}'
        '(-o --output)'{-o,--output}'[Also save the plan (JSON) to this file, for '\''portctl apply FILE'\'' (- for standard output; a device, FIFO, socket or folder is refused).]:file:'
        '--live[Plan against a saved listing ('\''nft -j list table inet portctl'\'', or '\''portctl status --save-listing'\'') instead of the kernel; needs no root.]:file:'
        '--new[Plan making this proposed policy file the policy (what '\''apply --new FILE'\'' would do); the policy file and the kernel stay as they are. Save it with -o and '\''portctl apply'\'' applies exactly it.]:file:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_apply() {
    local -i ret=1
    local -ar arg_specs=(
        ':planfile:'
        '--new[Make this file (root'\''s, in folders only root can write; or - for standard input) the policy\: apply it, then write it over the policy file, as one change.]:file:'
        '--expect-digest[With PLANFILE\: apply it only if its digest is this one (the digest the reviewer approved, as '\''portctl plan'\'' printed it).]:sha256\:hex:'
        '--boot[At boot (the systemd unit)\: if the policy file cannot be applied, put the last applied policy (or the first-run policy\: inbound drop, SSH allowed) in force instead, and still fail.]'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_check() {
    local -i ret=1
    local -ar arg_specs=(
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_confirm() {
    local -i ret=1
    local -ar arg_specs=(
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_rollback() {
    local -i ret=1
    local -ar arg_specs=(
        '--to[Put the policy file and table back as they were right after change N (from '\''portctl history'\''), as one new change.]:n:'
        '--force[Roll back even if the restored policy would block new SSH logins over this connection, or the policy file is not what the last change left (a hand edit is then discarded).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_history() {
    local -i ret=1
    local -ar arg_specs=(
        ':sequence:'
        '--json[Print the entries as JSON.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_diff() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'markdown')
    local -ar arg_specs=(
        ':old:'
        ':new:'
        '--format[text (default), json, or markdown (a table for a review).]:format:{__portctl_complete "${___format[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_disable() {
    local -i ret=1
    local -ar arg_specs=(
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_default() {
    local -i ret=1
    local -ar _name=('inbound' 'outbound' 'published' 'routed')
    local -ar arg_specs=(
        ':name:{__portctl_complete "${_name[@]}"}'
        ':value:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_forward() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '--to[Where connections go\: ADDR, ADDR\:PORT or \[IPV6\]\:PORT.]:addr\[\:port\]:'
        '*--from[Who may use the forward\: addresses or CIDRs of the target'\''s family, comma-separated; repeatable. Without it\: any source.]:addr:'
        '--masquerade[Also rewrite the source to this host'\''s address.]'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface.]:name:'
        '--comment[A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).]:text:'
        '--id[The rule id (a letter, then letters, digits, '\''.'\'', '\''_'\'', '\''-'\''); derived from the ports when omitted.]:id:'
        '--only[Make the forward'\''s sources exactly the --from list, in one change (a second forward of the same ports and target otherwise adds its sources to the first).]'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_route() {
    local -i ret=1
    local -ar arg_specs=(
        ':ports:'
        '*--from[Sending networks, comma-separated; repeatable. Without it\: any.]:addr:'
        '*--to[Receiving networks, comma-separated; repeatable. Without it\: any.]:addr:'
        '(--in-interface --interface)'{--in-interface,--interface}'[Only traffic arriving on this interface.]:name:'
        '--out-interface[Only traffic leaving by this interface.]:name:'
        '--comment[A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).]:text:'
        '--id[The rule id (a letter, then letters, digits, '\''.'\'', '\''_'\'', '\''-'\''); derived from the ports when omitted.]:id:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_metrics() {
    local -i ret=1
    local -ar arg_specs=(
        '--textfile[Write DIR/portctl.prom atomically (mode 0644) for node_exporter'\''s textfile collector instead of printing.]:dir:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_drops() {
    local -i ret=1
    local -ar arg_specs=(
        '--since[Only connections whose last packet came within this time (90s, 5m, 1h).]:time:'
        '*--port[Only these ports\: 26, 26/tcp, 53/udp, 8000-8100, 25,26 (repeatable). Without a protocol, TCP and UDP.]:ports:'
        '*--from[Only sources inside these addresses or CIDRs, comma-separated; repeatable.]:addr:'
        '*--reason[Only what this refused\: default, published-default, routed-default, rule, ban or limit (repeatable).]:reason:'
        '--top[At most this many connections, the busiest.]:n:'
        '--json[Print the report as JSON.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_trace() {
    local -i ret=1
    local -ar arg_specs=(
        ':source:'
        ':port\[/proto\]:'
        '--proto[tcp (the default) or udp.]:tcp|udp:'
        '--to[Only packets to this destination address (before any DNAT)\: a routed flow, or one of this host'\''s addresses.]:addr:'
        '--timeout[Stop after this long\: 30s (the default), 5m; a plain number is seconds.]:duration:'
        '--count[Stop after this many packets.]:n:'
        '--json[Print one JSON object per packet, one per line.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_watch() {
    local -i ret=1
    local -ar arg_specs=(
        '*:port\[/proto\]:'
        '--from[Only attempts from these sources\: addresses or networks, comma-separated.]:cidr,...:'
        '--verdict[Only these verdicts, comma-separated\: accept (forwarded too), drop (limited and banned too), reject, limited, banned, forwarded.]:verdict,...:'
        '--json[Print one JSON object per attempt, one per line.]'
        '--top[Show a table of the busiest sources and ports, refreshed every 2 seconds, instead of one line per attempt.]'
        '--count[Stop after this many attempts are printed.]:n:'
        '--timeout[Stop after this long\: 30s, 5m (else until Ctrl-C or SIGTERM).]:duration:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_ban() {
    local -i ret=1
    local -ar arg_specs=(
        '*:addr:'
        '--for[Lift the ban by itself after this long (90s, 30m, 2h, 1d).]:duration:'
        '--from-file[More addresses from a file, a pipe or - (one per line, # comments).]:file:'
        '--comment[A note kept with the ban (fail2ban'\''s jail, say).]:text:'
        '--dry-run[Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.]'
        '--confirm[Roll the change back automatically (policy file and ruleset) unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--force[Apply even if the change would block new SSH logins over the connection portctl runs in.]'
        '--json[With --dry-run\: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_unban() {
    local -i ret=1
    local -ar arg_specs=(
        '*:addr:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_bans() {
    local -i ret=1
    local -ar arg_specs=(
        '--json[Print the bans as JSON.]'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_import() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'ufw:Write the portctl policy that does what ufw'\''s rules and defaults do. Only the file: '\''portctl apply'\'' applies it.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        ufw)
            "_portctl_import_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_portctl_import_ufw() {
    local -i ret=1
    local -ar arg_specs=(
        '--rules[ufw'\''s folder\: user.rules, user6.rules, ufw.conf, applications.d.]:dir:'
        '--defaults[ufw'\''s settings file (DEFAULT_INPUT_POLICY, ...); default /etc/default/ufw, or DIR/../default/ufw with --rules DIR.]:file:'
        '--limit[The per-source rate ufw'\''s limit rules become\: COUNT/UNIT, like 10/minute (the default) or 6/minute.]:rate:'
        '--dry-run[Print the policy it would write (YAML on standard output; findings on standard error) and write nothing. Exits 2 when it would write, 0 when the file already holds it.]'
        '--partial[Write the policy even though some ufw rules or settings could not be translated (they are listed).]'
        '--replace[Replace an existing policy file; the old one is kept as FILE.before-import.]'
        '--json[Print the outcome as JSON\: the policy, the findings, the file and whether it was written.]'
        '--confirm[Put the previous policy file back automatically unless '\''portctl confirm'\'' runs within this time\: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.]:time:'
        '--policy[The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).]:file:'
        '--verbose[Print libnftables'\'' full error text on failure.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_portctl_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _portctl ]]; then
    _portctl "${@}"
else
    compdef _portctl portctl
fi
