
use builtin;
use str;

set edit:completion:arg-completer[runiam-proxy] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-proxy'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-proxy'= {
            cand --as 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for) [default: the identity of the credential in use: ADC file, gcloud account, metadata server]'
            cand --audience 'The ID token''s audience [default: the URL requests go to]'
            cand --tag 'Send requests to the URL of this traffic tag (and use it as the audience)'
            cand --port 'The port to listen on (0: any free port, printed on stdout)'
            cand --bind 'The address to listen on; anything but loopback needs --allow-remote'
            cand --id-token-cmd 'A shell command that prints the caller''s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience), run again to renew it'
            cand --log 'Append one line per request to FILE: time, method, path (no query), status, latency, who answered'
            cand --project 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]'
            cand --region 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]'
            cand --account 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]'
            cand --impersonate-service-account 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target'
            cand --access-token-file 'Read the access token for API calls from FILE'
            cand --billing-project 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]'
            cand --color 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never'
            cand --timeout 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first'
            cand --allow-remote 'Allow a --bind address other machines can reach: they would call the service as the caller'
            cand --keep-auth 'Pass the client''s own Authorization header to the container and send the ID token in X-Serverless-Authorization'
            cand -v 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
            cand --verbose 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
            cand -q 'Print nothing on stderr but errors'
            cand --quiet 'Print nothing on stderr but errors'
            cand --no-color 'Never colour output (the same as --color never)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
