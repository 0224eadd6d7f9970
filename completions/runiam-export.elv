
use builtin;
use str;

set edit:completion:arg-completer[runiam-export] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-export'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-export'= {
            cand --organization 'Export every service of organization N (its numeric id) through Cloud Asset Inventory, streaming snapshots as they complete'
            cand --folder 'Export every service of folder N and the folders below it, through Cloud Asset Inventory'
            cand --projects 'Export every service of these projects (ids or numbers, comma-separated), through Cloud Asset Inventory'
            cand --from-asset-export 'Read an Asset Inventory export instead of calling any API: newline-delimited Asset JSON (--content-type resource and iam-policy, in one file or several; - for stdin); files are read twice, policies first, so memory holds only the policies'
            cand --rate-limit 'Calls a minute allowed to one API, as API=N (cloudasset=350, run=540, cloudresourcemanager=540 by default against Google, under its published quotas; repeatable)'
            cand -o 'Output format [default: text on a terminal, yaml otherwise]'
            cand --output 'Output format [default: text on a terminal, yaml otherwise]'
            cand --out-dir 'Write one YAML file per service to DIR/PROJECT/REGION/SERVICE.yaml, ready for git'
            cand --project 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]'
            cand --region 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]'
            cand --account 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]'
            cand --impersonate-service-account 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target'
            cand --access-token-file 'Read the access token for API calls from FILE'
            cand --billing-project 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]'
            cand --color 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never'
            cand --timeout 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first'
            cand --all 'Export every service of the project, in every region'
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
