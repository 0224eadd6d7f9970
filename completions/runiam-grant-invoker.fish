complete -c runiam-grant-invoker -l member -d 'Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers' -r
complete -c runiam-grant-invoker -l role -d 'The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role)' -r
complete -c runiam-grant-invoker -l expires -d 'Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding' -r
complete -c runiam-grant-invoker -l until -d 'Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)' -r
complete -c runiam-grant-invoker -l since -d 'Replay the service\'s Cloud Run denials of this window against each grant plan (30m, 1h, 2d): which configured callers the grant fixes, which stay denied and why' -r
complete -c runiam-grant-invoker -l reason -d 'The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant\'s description' -r
complete -c runiam-grant-invoker -l backup-dir -d 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it' -r -F
complete -c runiam-grant-invoker -s f -l file -d 'Read Diagnosis documents or plans from FILE (- for stdin)' -r -F
complete -c runiam-grant-invoker -l heal-policy -d 'Fix the Diagnoses on stdin only as far as this YAML allowlist admits (members, services, max_expires, fixes_per_hour), counting every fix in Cloud Monitoring; anything else is refused (exit 4)' -r -F
complete -c runiam-grant-invoker -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'The plan in words'
yaml\t'ChangeRecord documents as YAML'
json\t'ChangeRecord documents, one JSON object per line'
terraform\t'The granted bindings as google_cloud_run_v2_service_iam_member resources'
markdown\t'A page for the team wiki: the change, its diff and blast radius, how to roll it back'"
complete -c runiam-grant-invoker -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-grant-invoker -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-grant-invoker -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-grant-invoker -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-grant-invoker -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-grant-invoker -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-grant-invoker -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-grant-invoker -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-grant-invoker -l allow-public -d 'Allow what makes the service public: granting allUsers or allAuthenticatedUsers, or turning the invoker check off'
complete -c runiam-grant-invoker -l allow-broad -d 'Allow granting a domain: member or a group of more than 50 accounts (or one whose size cannot be read)'
complete -c runiam-grant-invoker -l permanent -d 'Grant without a condition even though the member holds the role under one (a time-bound grant becomes permanent)'
complete -c runiam-grant-invoker -l keep-condition -d 'With --expires/--until: replace the member\'s existing time-bound grant instead of adding a second one'
complete -c runiam-grant-invoker -l disable-invoker-check -d 'Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing); needs --allow-public'
complete -c runiam-grant-invoker -l revoke -d 'Remove the --member\'s grants of --role from the service instead (whatever their condition): the same plan, backup and ChangeRecord as a grant, so rollback undoes it'
complete -c runiam-grant-invoker -l revoke-expired -d 'Remove the service\'s time-bound grants (request.time < timestamp(...)) whose time has passed, of any role'
complete -c runiam-grant-invoker -l revoke-deleted -d 'Remove deleted: members (accounts deleted since they were granted) from the service\'s policy, of any role'
complete -c runiam-grant-invoker -l require-evidence -d 'Refuse (exit 4, nothing written) a grant that fixes none of the denials observed in the --since window'
complete -c runiam-grant-invoker -l apply -d 'Write the change (otherwise only plan it)'
complete -c runiam-grant-invoker -s y -l yes -d 'Apply without asking for confirmation (needed when there is no terminal)'
complete -c runiam-grant-invoker -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam-grant-invoker -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-grant-invoker -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-grant-invoker -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-grant-invoker -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-grant-invoker -s V -l version -d 'Print version'
