function __portctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __portctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __portctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __portctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __portctl_parse_tokens -S
    set -l unparsed_tokens (__portctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'portctl'
        __portctl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'open'
            __portctl_parse_subcommand 1 'from=+' 'to=+' 'from-file=' 'out' 'interface=' 'log' 'comment=' 'id=' 'limit=' 'for=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'close'
            __portctl_parse_subcommand 1 'from=+' 'to=+' 'from-file=' 'out' 'interface=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'deny'
            __portctl_parse_subcommand 1 'from=+' 'to=+' 'from-file=' 'out' 'interface=' 'log' 'comment=' 'id=' 'routed' 'out-interface=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'reject'
            __portctl_parse_subcommand 1 'from=+' 'to=+' 'from-file=' 'out' 'interface=' 'log' 'comment=' 'id=' 'routed' 'out-interface=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'remove'
            __portctl_parse_subcommand 1 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'list'
            __portctl_parse_subcommand 0 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'status'
            __portctl_parse_subcommand 0 'json' 'nagios' 'policy=' 'verbose' 'version' 'h/help'
        case 'audit'
            __portctl_parse_subcommand 0 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'probe'
            __portctl_parse_subcommand 2 'timeout=' 'json' 'version' 'h/help'
        case 'explain'
            __portctl_parse_subcommand 2 'interface=' 'to=' 'out=' 'plan=' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'render'
            __portctl_parse_subcommand 0 'policy=' 'verbose' 'version' 'h/help'
        case 'plan'
            __portctl_parse_subcommand 0 'json' 'format=' 'o/output=' 'live=' 'policy=' 'verbose' 'version' 'h/help'
        case 'apply'
            __portctl_parse_subcommand 1 'new=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'check'
            __portctl_parse_subcommand 0 'policy=' 'verbose' 'version' 'h/help'
        case 'confirm'
            __portctl_parse_subcommand 0 'policy=' 'verbose' 'version' 'h/help'
        case 'rollback'
            __portctl_parse_subcommand 0 'force' 'policy=' 'verbose' 'version' 'h/help'
        case 'history'
            __portctl_parse_subcommand 1 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'disable'
            __portctl_parse_subcommand 0 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'default'
            __portctl_parse_subcommand 2 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'forward'
            __portctl_parse_subcommand 1 'to=' 'from=+' 'masquerade' 'interface=' 'id=' 'comment=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'route'
            __portctl_parse_subcommand 1 'from=+' 'to=+' 'in=' 'out=' 'id=' 'comment=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'metrics'
            __portctl_parse_subcommand 0 'textfile=' 'policy=' 'verbose' 'version' 'h/help'
        case 'ban'
            __portctl_parse_subcommand -r 1 'for=' 'from-file=' 'comment=' 'dry-run' 'confirm=' 'force' 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'unban'
            __portctl_parse_subcommand -r 1 'policy=' 'verbose' 'version' 'h/help'
        case 'bans'
            __portctl_parse_subcommand 0 'json' 'policy=' 'verbose' 'version' 'h/help'
        case 'help'
            __portctl_parse_subcommand -r 1 'version'
        end
    end
end

function __portctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __portctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __portctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __portctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__portctl_tokens -p)
    if test -z "$(__portctl_tokens -t)"
        set -l index (count (__portctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'portctl' -f
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'open' -d 'Allow ports, from the given sources (or from any source).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'close' -d 'Remove what opened ports (or only some of its sources).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'deny' -d 'Drop traffic to ports silently (clients see \'filtered\'); wins over any allow.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'reject' -d 'Refuse traffic to ports (TCP reset, ICMP port-unreachable for UDP); wins over any allow.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'remove' -d 'Remove one rule, of any kind, by its id (see portctl list).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'list' -d 'Show the policy\'s defaults and rules.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'status' -d 'Show every rule with its live packet and byte counters, and whether the kernel matches the policy.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'audit' -d 'Compare what listens on this host with what the policy lets in; exit 3 on a high-severity finding.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'probe' -d 'Probe TCP ports of a host: open (handshake), closed (reset) or filtered (silence or ICMP unreachable), like an nmap connect scan.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'explain' -d 'Say what the policy does with a new inbound packet from ADDRESS to PORT, and which rule decides it.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'render' -d 'Print the nftables table the policy renders to. Needs no root; touches no kernel.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'plan' -d 'Show what \'portctl apply\' would change in the kernel; change nothing.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'apply' -d 'Apply the policy file as it stands, or a saved plan exactly as reviewed.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'check' -d 'Validate the policy file and its rendered ruleset (the kernel checks it too, with CAP_NET_ADMIN).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'confirm' -d 'Keep the change applied with --confirm (run it from a new connection: that proves you can still get in).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'rollback' -d 'Restore the policy file and ruleset in force before the last applied change (run it again to redo).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'history' -d 'List applied changes: when, by whom, from where, and what changed (the last 50 are kept).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'disable' -d 'Remove portctl\'s nftables table; the policy file stays, and \'portctl apply\' restores it.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'default' -d 'Set a default: inbound drop|reject|accept, outbound accept|drop, published filter|accept, routed accept|drop.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'forward' -d 'Forward ports arriving here to another address (a router\'s port forwarding), from the given sources.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'route' -d 'Allow traffic this host routes from some networks to others, on these ports (segmentation).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'metrics' -d 'Print Prometheus metrics: every rule\'s packets and bytes, the defaults, in sync or not, audit findings.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'ban' -d 'Drop every new inbound connection from these addresses or networks, on every port, before any allow (fail2ban\'s action).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'unban' -d 'Lift bans made with portctl ban.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'bans' -d 'List the bans in force: address, expiry, comment; and the packets they dropped.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open"' -l 'from' -d 'Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it: any source.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open"' -l 'to' -d 'Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" from-file' -l 'from-file' -d 'Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" out' -l 'out' -d 'Make an outbound rule (matches destination port; --to names destinations).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" interface' -l 'interface' -d 'Only traffic on this interface (iifname inbound, oifname outbound); a trailing * matches a prefix.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" log' -l 'log' -d 'Log matching packets (at most 10 lines a minute) with the prefix \'portctl ID: \'.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" comment' -l 'comment' -d 'A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" id' -l 'id' -d 'The rule id (a letter, then letters, digits, \'.\', \'_\', \'-\'); derived from the ports when omitted.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" limit' -l 'limit' -d 'Limit new connections per source address, like 6/minute (also /second, /hour, /day); the rest are dropped.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" for' -l 'for' -d 'Close again by itself after this long (90s, 30m, 2h, 1d): the kernel expires it, no daemon needed.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl open" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close"' -l 'from' -d 'Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it: any source.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close"' -l 'to' -d 'Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" from-file' -l 'from-file' -d 'Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" out' -l 'out' -d 'Make an outbound rule (matches destination port; --to names destinations).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" interface' -l 'interface' -d 'Only traffic on this interface (iifname inbound, oifname outbound); a trailing * matches a prefix.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl close" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny"' -l 'from' -d 'Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it: any source.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny"' -l 'to' -d 'Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" from-file' -l 'from-file' -d 'Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" out' -l 'out' -d 'Make an outbound rule (matches destination port; --to names destinations).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" interface' -l 'interface' -d 'Only traffic on this interface (iifname inbound, oifname outbound); a trailing * matches a prefix.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" log' -l 'log' -d 'Log matching packets (at most 10 lines a minute) with the prefix \'portctl ID: \'.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" comment' -l 'comment' -d 'A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" id' -l 'id' -d 'The rule id (a letter, then letters, digits, \'.\', \'_\', \'-\'); derived from the ports when omitted.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" routed' -l 'routed' -d 'Block routed traffic (this host as a router, no DNAT): --from names senders, --to receivers.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" out-interface' -l 'out-interface' -d 'With --routed: only traffic leaving by this interface.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl deny" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject"' -l 'from' -d 'Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it: any source.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject"' -l 'to' -d 'Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" from-file' -l 'from-file' -d 'Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" out' -l 'out' -d 'Make an outbound rule (matches destination port; --to names destinations).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" interface' -l 'interface' -d 'Only traffic on this interface (iifname inbound, oifname outbound); a trailing * matches a prefix.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" log' -l 'log' -d 'Log matching packets (at most 10 lines a minute) with the prefix \'portctl ID: \'.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" comment' -l 'comment' -d 'A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" id' -l 'id' -d 'The rule id (a letter, then letters, digits, \'.\', \'_\', \'-\'); derived from the ports when omitted.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" routed' -l 'routed' -d 'Block routed traffic (this host as a router, no DNAT): --from names senders, --to receivers.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" out-interface' -l 'out-interface' -d 'With --routed: only traffic leaving by this interface.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl reject" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl list" json' -l 'json' -d 'Print the policy as JSON (the policy file\'s shape).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl list" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl list" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl list" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" json' -l 'json' -d 'Print the status as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" nagios' -l 'nagios' -d 'Print one monitoring-plugins line (Nagios, Icinga) and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl audit" json' -l 'json' -d 'Print the findings as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl audit" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl audit" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl audit" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl audit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl probe" timeout' -l 'timeout' -d 'Seconds to wait for each port (all ports are probed at once).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl probe" json' -l 'json' -d 'Print the results as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl probe" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl probe" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" interface' -l 'interface' -d 'The interface the packet arrives on (rules may be limited to one).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" to' -l 'to' -d 'Explain a packet this host would route to this address (not to this host): route rules and the routed default decide.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" out' -l 'out' -d 'With --to: the interface the routed packet leaves by.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" plan' -l 'plan' -d 'Explain against the policy inside this saved plan instead of the policy file.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" json' -l 'json' -d 'Print the explanation as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl explain" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl render" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl render" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl render" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl render" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" json' -l 'json' -d 'Print the plan as JSON (same as --format json).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" format' -l 'format' -d 'text (default), json, or nft (the exact batch apply sends).' -rfka 'text json nft'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" o output' -s 'o' -l 'output' -d 'Also save the plan (JSON) to this file, for \'portctl apply FILE\'.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" live' -l 'live' -d 'Plan against a saved listing (\'nft -j list table inet portctl\') instead of the kernel; needs no root.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl plan" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" new' -l 'new' -d 'Make this file (or - for standard input) the policy: apply it, then write it over the policy file, as one change.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl apply" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl check" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl check" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl check" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl check" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl confirm" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl confirm" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl confirm" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl confirm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl rollback" force' -l 'force' -d 'Roll back even if the restored policy would block new SSH logins over this connection.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl rollback" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl rollback" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl rollback" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl rollback" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl history" json' -l 'json' -d 'Print the entries as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl history" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl history" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl history" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl history" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl disable" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_positional "portctl default" -eq 1' -fka 'inbound outbound published routed'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl default" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" to' -l 'to' -d 'Where connections go: ADDR, ADDR:PORT or [IPV6]:PORT.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward"' -l 'from' -d 'Who may use the forward: addresses or CIDRs of the target\'s family, comma-separated; repeatable. Without it: any source.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" masquerade' -l 'masquerade' -d 'Also rewrite the source to this host\'s address.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" interface' -l 'interface' -d 'Only traffic arriving on this interface.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" id' -l 'id' -d 'The rule id; derived from the ports when omitted.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" comment' -l 'comment' -d 'A note kept in the policy and the nftables comment.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl forward" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route"' -l 'from' -d 'Sending networks, comma-separated; repeatable. Without it: any.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route"' -l 'to' -d 'Receiving networks, comma-separated; repeatable. Without it: any.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" in' -l 'in' -d 'Only traffic arriving on this interface.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" out' -l 'out' -d 'Only traffic leaving by this interface.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" id' -l 'id' -d 'The rule id; derived from the ports when omitted.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" comment' -l 'comment' -d 'A note kept in the policy and the nftables comment.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl route" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl metrics" textfile' -l 'textfile' -d 'Write DIR/portctl.prom atomically (mode 0644) for node_exporter\'s textfile collector instead of printing.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl metrics" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl metrics" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl metrics" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl metrics" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" for' -l 'for' -d 'Lift the ban by itself after this long (90s, 30m, 2h, 1d).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" from-file' -l 'from-file' -d 'More addresses from a file, a pipe or - (one per line, # comments).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" comment' -l 'comment' -d 'A note kept with the ban (fail2ban\'s jail, say).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" dry-run' -l 'dry-run' -d 'Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" confirm' -l 'confirm' -d 'Roll the change back automatically (policy file and ruleset) unless \'portctl confirm\' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" force' -l 'force' -d 'Apply even if the change would block new SSH logins over the connection portctl runs in.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" json' -l 'json' -d 'With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl ban" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl unban" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl unban" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl unban" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl unban" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl bans" json' -l 'json' -d 'Print the bans as JSON.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl bans" policy' -l 'policy' -d 'The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).' -rfka ''
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl bans" verbose' -l 'verbose' -d 'Print libnftables\' full error text on failure.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl bans" version' -l 'version' -d 'Show the version.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl bans" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'portctl' -n '__portctl_should_offer_completions_for_flags_or_options "portctl help" version' -l 'version' -d 'Show the version.'
