
use builtin;
use str;

set edit:completion:arg-completer[runiam-rollback] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-rollback'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-rollback'= {
            cand -f 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)'
            cand --file 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)'
            cand --list 'List the backups under --backup-dir, newest first (of SERVICE only: a name or projects/P/locations/R/services/S); writes nothing'
            cand --last 'Restore SERVICE (a name or projects/P/locations/R/services/S) from its newest backup under --backup-dir'
            cand --allow-role 'Allow the restore to write back or remove ROLE, a role beyond invoking (repeatable)'
            cand --backup-dir 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it'
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
            cand --merge 'When the policy changed since the record (or snapshot), undo only this change (add back only what the snapshot had) and keep the others'' edits'
            cand --force 'When the policy changed since, overwrite the others'' edits with the recorded policy'
            cand --allow-public 'Allow the restore to make the service public (allUsers, allAuthenticatedUsers, invoker check off)'
            cand --allow-broad 'Allow the restore to grant domain: members and large groups'
            cand --allow-empty 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
            cand --apply 'Write the change (otherwise only plan it)'
            cand -y 'Apply without asking for confirmation (needed when there is no terminal)'
            cand --yes 'Apply without asking for confirmation (needed when there is no terminal)'
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
