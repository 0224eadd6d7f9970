complete -c runiam-rollback -s f -l file -d 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)' -r -F
complete -c runiam-rollback -l list -d 'List the backups under --backup-dir, newest first (of SERVICE only: a name or projects/P/locations/R/services/S); writes nothing' -r
complete -c runiam-rollback -l last -d 'Restore SERVICE (a name or projects/P/locations/R/services/S) from its newest backup under --backup-dir' -r
complete -c runiam-rollback -l allow-role -d 'Allow the restore to write back or remove ROLE, a role beyond invoking (repeatable)' -r
complete -c runiam-rollback -l backup-dir -d 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it' -r -F
complete -c runiam-rollback -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam-rollback -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-rollback -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-rollback -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-rollback -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-rollback -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-rollback -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-rollback -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-rollback -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-rollback -l merge -d 'When the policy changed since the record (or snapshot), undo only this change (add back only what the snapshot had) and keep the others\' edits'
complete -c runiam-rollback -l force -d 'When the policy changed since, overwrite the others\' edits with the recorded policy'
complete -c runiam-rollback -l allow-public -d 'Allow the restore to make the service public (allUsers, allAuthenticatedUsers, invoker check off)'
complete -c runiam-rollback -l allow-broad -d 'Allow the restore to grant domain: members and large groups'
complete -c runiam-rollback -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam-rollback -l apply -d 'Write the change (otherwise only plan it)'
complete -c runiam-rollback -s y -l yes -d 'Apply without asking for confirmation (needed when there is no terminal)'
complete -c runiam-rollback -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-rollback -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-rollback -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-rollback -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-rollback -s V -l version -d 'Print version'
