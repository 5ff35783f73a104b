# SPDX-License-Identifier: MIT
# fish completion for dashscope-credential: commands, options, profile
# names (from `dashscope-credential list --json`), regions and aliases,
# shells, --for values and setup's tools.

# The command word typed so far, skipping options and their values.
function __dscred_command
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case -p --profile -r --region -w --workspace --plan -l --lifetime --shell --for --listen --idle-timeout
                set skip 1
            case '-*'
            case '*'
                echo $w
                return 0
        end
    end
    return 1
end

function __dscred_no_command
    not __dscred_command >/dev/null
end

function __dscred_using
    set -l c (__dscred_command)
    and contains -- $c $argv
end

function __dscred_profiles
    set -l prog (commandline -opc)[1]
    $prog list --json 2>/dev/null | string replace -rf '^ *"profile": "([A-Za-z0-9._-]+)",?$' '$1'
end

function __dscred_for_values
    set -l tok (commandline -ct)
    set -l head (string replace -r '[^,]*$' '' -- $tok)
    for v in dashscope openai anthropic
        echo $head$v
    end
end

set -l regions cn-beijing beijing cn china ap-southeast-1 singapore sg intl international us-east-1 virginia us cn-hongkong hongkong hk eu-central-1 frankfurt de eu ap-northeast-1 tokyo jp

complete -c dashscope-credential -f
complete -c dashscope-credential -n __dscred_no_command -a add -d 'store a long-lived key'
complete -c dashscope-credential -n __dscred_no_command -a list -d 'show stored profiles'
complete -c dashscope-credential -n __dscred_no_command -a remove -d 'delete a profile'
complete -c dashscope-credential -n __dscred_no_command -a rotate -d 'replace a profile\'s key through the key-management API'
complete -c dashscope-credential -n __dscred_no_command -a token -d 'print one temporary key'
complete -c dashscope-credential -n __dscred_no_command -a env -d 'print variable assignments'
complete -c dashscope-credential -n __dscred_no_command -a exec -d 'run a command with the variables'
complete -c dashscope-credential -n __dscred_no_command -a status -d 'what would be used and why'
complete -c dashscope-credential -n __dscred_no_command -a setup -d 'configure a tool'
complete -c dashscope-credential -n __dscred_no_command -a regions -d 'the region table'
complete -c dashscope-credential -n __dscred_no_command -a doctor -d 'check everything'
complete -c dashscope-credential -n __dscred_no_command -a 'get store erase capability' -d 'git-credential protocol'
complete -c dashscope-credential -n __dscred_no_command -a proxy -d 'a key-injecting loopback proxy'
complete -c dashscope-credential -n __dscred_no_command -a broker -d 'the administrator\'s broker service'

complete -c dashscope-credential -s p -l profile -x -a '(__dscred_profiles)' -d 'profile to use'
complete -c dashscope-credential -s r -l region -x -a "$regions" -d 'region id or alias'
complete -c dashscope-credential -s w -l workspace -x -d 'workspace id'
complete -c dashscope-credential -l plan -x -a 'payg coding' -d 'plan'
complete -c dashscope-credential -s l -l lifetime -x -d 'key lifetime in seconds'
complete -c dashscope-credential -s h -l help -d 'help'
complete -c dashscope-credential -s V -l version -d 'version'
complete -c dashscope-credential -l debug -d 'trace to standard error'

complete -c dashscope-credential -n '__dscred_using add' -l verify -d 'mint a 1-second key first'
complete -c dashscope-credential -n '__dscred_using add' -l default -d 'make it the default profile'
complete -c dashscope-credential -n '__dscred_using add' -l access-key -d 'store an AccessKey for rotate'
complete -c dashscope-credential -n '__dscred_using rotate' -l check -d 'say when each key was made'
complete -c dashscope-credential -n '__dscred_using list regions status doctor' -l json -d 'JSON output'
complete -c dashscope-credential -n '__dscred_using doctor' -l online -d 'also mint a key per profile'
complete -c dashscope-credential -n '__dscred_using env proxy' -l shell -x -a 'sh fish csh dotenv json pam' -d 'output syntax'
complete -c dashscope-credential -n '__dscred_using env exec proxy' -l for -x -a '(__dscred_for_values)' -d 'variable families'
complete -c dashscope-credential -n '__dscred_using env' -l no-key -d 'leave out key variables'
complete -c dashscope-credential -n '__dscred_using setup' -l dry-run -d 'print, change nothing'
complete -c dashscope-credential -n '__dscred_using add list remove rotate' -l system -d 'the broker\'s system key file (root)'
complete -c dashscope-credential -n '__dscred_using add' -l sealed -d 'with --system: seal it with systemd-creds for the broker (root)'
complete -c dashscope-credential -n '__dscred_using broker' -l listen -r -F -d 'make the socket here'
complete -c dashscope-credential -n '__dscred_using broker' -l log-stderr -d 'audit to standard error'
complete -c dashscope-credential -n '__dscred_using broker' -l idle-timeout -x -d 'exit after this many idle seconds'
complete -c dashscope-credential -n '__dscred_using remove rotate' -a '(__dscred_profiles)'
complete -c dashscope-credential -n '__dscred_using setup' -a 'claude-code qwen-code codex'
complete -c dashscope-credential -n '__dscred_using exec' -a '(__fish_complete_subcommand --fcs-skip=2)'
complete -c dashscope-credential -n '__dscred_using exec' -l key-file -d 'keep a fresh key in a file for the SDKs'
complete -c dashscope-credential -n '__dscred_using proxy' -l listen -x -d 'loopback address:port'
complete -c dashscope-credential -n '__dscred_using proxy' -l quiet -d 'no request log'
complete -c dashscope-credential -n '__dscred_using proxy' -l print-env -d 'print the variables once listening'
complete -c dashscope-credential -n '__dscred_using proxy' -l new-key -d 'replace the standalone proxy key'
