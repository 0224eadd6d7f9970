# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_runiam_global_optspecs
    string join \n h/help V/version
end

function __fish_runiam_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_runiam_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_runiam_using_subcommand
    set -l cmd (__fish_runiam_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c runiam -n "__fish_runiam_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_needs_command" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "plugins" -d 'List the runiam-* plugins found on PATH'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "demo" -d 'Run the whole story offline, against the emulator on the example estate'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "export" -d 'Snapshot Cloud Run services and their IAM policies'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "troubleshoot" -d 'Explain why a caller cannot invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "grant-invoker" -d 'Grant the least privilege that lets a caller invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "rollback" -d 'Undo changes recorded by runiam, or restore services to a snapshot'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "verify" -d 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c runiam -n "__fish_runiam_using_subcommand plugins" -s h -l help -d 'Print help'
complete -c runiam -n "__fish_runiam_using_subcommand demo" -s h -l help -d 'Print help'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "plugins" -d 'List the runiam-* plugins found on PATH'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "demo" -d 'Run the whole story offline, against the emulator on the example estate'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "export" -d 'Snapshot Cloud Run services and their IAM policies'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "troubleshoot" -d 'Explain why a caller cannot invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "grant-invoker" -d 'Grant the least privilege that lets a caller invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "rollback" -d 'Undo changes recorded by runiam, or restore services to a snapshot'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "verify" -d 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller'
complete -c runiam -n "__fish_runiam_using_subcommand help; and not __fish_seen_subcommand_from plugins demo export troubleshoot grant-invoker rollback verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
