
use builtin;
use str;

set edit:completion:arg-completer[runiam-emulator] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-emulator'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-emulator'= {
            cand --world 'The world file (YAML): organization, folders, projects, services, policies'
            cand --listen 'Address to listen on; port 0 picks a free port (the printed URL shows it)'
            cand --seed 'Seed of every random choice (fault injection), for reproducible runs'
            cand --latency 'How long every control-plane answer takes, e.g. 50ms or 1s: each leaves no sooner than this after its request'
            cand --fail-rate 'Share of control-plane requests answered with one of --fail-codes (0 to 1)'
            cand --fail-codes 'HTTP codes injected failures answer with: 409, 429, 500, 502, 503, 504'
            cand --race-rate 'Chance (0 to 1) that a concurrent writer adds a binding to a service''s policy right after a getIamPolicy, so the client''s etag goes stale'
            cand --commit-then-fail 'Chance (0 to 1) that a setIamPolicy commits and then answers 503'
            cand --propagation-delay 'How late IAM and invoker-check changes reach the Cloud Run front end, e.g. 7s'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
