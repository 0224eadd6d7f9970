
use builtin;
use str;

set edit:completion:arg-completer[runiam] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand plugins 'List the runiam-* plugins found on PATH'
            cand demo 'Run the whole story offline, against the emulator on the example estate'
            cand export 'Snapshot Cloud Run services and their IAM policies'
            cand troubleshoot 'Explain why a caller cannot invoke a Cloud Run service'
            cand grant-invoker 'Grant the least privilege that lets a caller invoke a Cloud Run service'
            cand rollback 'Undo changes recorded by runiam, or restore services to a snapshot'
            cand verify 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'runiam;plugins'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'runiam;demo'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'runiam;export'= {
        }
        &'runiam;troubleshoot'= {
        }
        &'runiam;grant-invoker'= {
        }
        &'runiam;rollback'= {
        }
        &'runiam;verify'= {
        }
        &'runiam;help'= {
            cand plugins 'List the runiam-* plugins found on PATH'
            cand demo 'Run the whole story offline, against the emulator on the example estate'
            cand export 'Snapshot Cloud Run services and their IAM policies'
            cand troubleshoot 'Explain why a caller cannot invoke a Cloud Run service'
            cand grant-invoker 'Grant the least privilege that lets a caller invoke a Cloud Run service'
            cand rollback 'Undo changes recorded by runiam, or restore services to a snapshot'
            cand verify 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'runiam;help;plugins'= {
        }
        &'runiam;help;demo'= {
        }
        &'runiam;help;export'= {
        }
        &'runiam;help;troubleshoot'= {
        }
        &'runiam;help;grant-invoker'= {
        }
        &'runiam;help;rollback'= {
        }
        &'runiam;help;verify'= {
        }
        &'runiam;help;help'= {
        }
    ]
    $completions[$command]
}
