complete -c runiam-export -l organization -d 'Export every service of organization N (its numeric id) through Cloud Asset Inventory, streaming snapshots as they complete' -r
complete -c runiam-export -l folder -d 'Export every service of folder N and the folders below it, through Cloud Asset Inventory' -r
complete -c runiam-export -l projects -d 'Export every service of these projects (ids or numbers, comma-separated), through Cloud Asset Inventory' -r
complete -c runiam-export -l from-asset-export -d 'Read an Asset Inventory export instead of calling any API: newline-delimited Asset JSON (--content-type resource and iam-policy, in one file or several; - for stdin); files are read twice, policies first, so memory holds only the policies' -r -F
complete -c runiam-export -l rate-limit -d 'Calls a minute allowed to one API, as API=N (cloudasset=350, run=540, cloudresourcemanager=540 by default against Google, under its published quotas; repeatable)' -r
complete -c runiam-export -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'A table for people'
yaml\t'A YAML stream of ServiceSnapshot documents'
json\t'One ServiceSnapshot per line, as JSON'
terraform\t'Terraform `import {}` blocks and google_cloud_run_v2_service_iam_member resources'"
complete -c runiam-export -l out-dir -d 'Write one YAML file per service to DIR/PROJECT/REGION/SERVICE.yaml, ready for git' -r -F
complete -c runiam-export -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-export -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-export -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-export -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-export -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-export -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-export -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-export -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-export -l all -d 'Export every service of the project, in every region'
complete -c runiam-export -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-export -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-export -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-export -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-export -s V -l version -d 'Print version'
