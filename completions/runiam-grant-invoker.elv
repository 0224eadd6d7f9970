
use builtin;
use str;

set edit:completion:arg-completer[runiam-grant-invoker] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-grant-invoker'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-grant-invoker'= {
            cand --member 'Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers'
            cand --role 'The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role)'
            cand --expires 'Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding'
            cand --until 'Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)'
            cand --since 'Replay the service''s Cloud Run denials of this window against each grant plan (30m, 1h, 2d): which configured callers the grant fixes, which stay denied and why'
            cand --reason 'The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant''s description'
            cand --backup-dir 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it'
            cand -f 'Read Diagnosis documents or plans from FILE (- for stdin)'
            cand --file 'Read Diagnosis documents or plans from FILE (- for stdin)'
            cand --heal-policy 'Fix the Diagnoses on stdin only as far as this YAML allowlist admits (members, services, max_expires, fixes_per_hour), counting every fix in Cloud Monitoring; anything else is refused (exit 4)'
            cand -o 'Output format [default: text on a terminal, yaml otherwise]'
            cand --output 'Output format [default: text on a terminal, yaml otherwise]'
            cand --project 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]'
            cand --region 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]'
            cand --account 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]'
            cand --impersonate-service-account 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target'
            cand --access-token-file 'Read the access token for API calls from FILE'
            cand --billing-project 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]'
            cand --color 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never'
            cand --timeout 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first'
            cand --allow-public 'Allow what makes the service public: granting allUsers or allAuthenticatedUsers, or turning the invoker check off'
            cand --allow-broad 'Allow granting a domain: member or a group of more than 50 accounts (or one whose size cannot be read)'
            cand --permanent 'Grant without a condition even though the member holds the role under one (a time-bound grant becomes permanent)'
            cand --keep-condition 'With --expires/--until: replace the member''s existing time-bound grant instead of adding a second one'
            cand --disable-invoker-check 'Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing); needs --allow-public'
            cand --revoke 'Remove the --member''s grants of --role from the service instead (whatever their condition): the same plan, backup and ChangeRecord as a grant, so rollback undoes it'
            cand --revoke-expired 'Remove the service''s time-bound grants (request.time < timestamp(...)) whose time has passed, of any role'
            cand --revoke-deleted 'Remove deleted: members (accounts deleted since they were granted) from the service''s policy, of any role'
            cand --require-evidence 'Refuse (exit 4, nothing written) a grant that fixes none of the denials observed in the --since window'
            cand --apply 'Write the change (otherwise only plan it)'
            cand -y 'Apply without asking for confirmation (needed when there is no terminal)'
            cand --yes 'Apply without asking for confirmation (needed when there is no terminal)'
            cand --allow-empty 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
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
