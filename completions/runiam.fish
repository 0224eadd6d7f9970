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
complete -c runiam -n "__fish_runiam_needs_command" -f -a "demo" -d 'Run the whole story offline, against the emulator on the demo estate'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "runbook" -d 'Render saved runiam documents as one Markdown page for the team wiki'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "export" -d 'Snapshot Cloud Run services and their IAM policies'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "troubleshoot" -d 'Explain why a caller cannot invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "grant-invoker" -d 'Grant the least privilege that lets a caller invoke a Cloud Run service'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "rollback" -d 'Undo changes recorded by runiam, or restore services to a snapshot'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "verify" -d 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller'
complete -c runiam -n "__fish_runiam_needs_command" -f -a "proxy" -d 'Reach a private Cloud Run service from this machine as a chosen caller'
complete -c runiam -n "__fish_runiam_using_subcommand plugins" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand demo" -l world -d 'A world file to use instead of the embedded examples/demo-world.yaml (its project acme-shop and services are what the acts name)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand demo" -l act -d 'Run only act N (1-based; each act stands on its own)' -r
complete -c runiam -n "__fish_runiam_using_subcommand demo" -l keep-running -d 'Leave the emulator running at the end and print the environment to replay any act by hand; Ctrl-C stops it'
complete -c runiam -n "__fish_runiam_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand demo" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand runbook" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand runbook" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand export" -l organization -d 'Export every service of organization N (its numeric id) through Cloud Asset Inventory, streaming snapshots as they complete' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l folder -d 'Export every service of folder N and the folders below it, through Cloud Asset Inventory' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l projects -d 'Export every service of these projects (ids or numbers, comma-separated), through Cloud Asset Inventory' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l from-asset-export -d 'Read an Asset Inventory export instead of calling any API: newline-delimited Asset JSON (--content-type resource and iam-policy, in one file or several; - for stdin); files are read twice, policies first, so memory holds only the policies' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand export" -l rate-limit -d 'Calls a minute allowed to one API, as API=N (cloudasset=350, run=540, cloudresourcemanager=540 by default against Google, under its published quotas; repeatable)' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'A table for people'
yaml\t'A YAML stream of ServiceSnapshot documents'
json\t'One ServiceSnapshot per line, as JSON'
terraform\t'Terraform `import {}` blocks and google_cloud_run_v2_service_iam_member resources'"
complete -c runiam -n "__fish_runiam_using_subcommand export" -l out-dir -d 'Write one YAML file per service to DIR/PROJECT/REGION/SERVICE.yaml, ready for git' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand export" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand export" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand export" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand export" -l all -d 'Export every service of the project, in every region'
complete -c runiam -n "__fish_runiam_using_subcommand export" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand export" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand export" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand export" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller -d 'Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token\'s email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l token-file -d 'Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l token-env -d 'Read the token the caller sends from environment variable VAR' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l since -d 'How far back to read Cloud Run\'s request logs (s, m, h, d)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l saw -d 'The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run' -r -f -a "401\t''
403\t''
404\t''"
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l from -d 'Where the call comes from, overriding what runiam derives (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal) [default: derived from --caller-service, --caller-vm or a discovered caller\'s settings, else external]' -r -f -a "external\t'The internet, or another project\'s network'
internal\t'The project\'s VPC (and same-project Pub/Sub, Scheduler, Eventarc, Tasks)'
load-balancer\t'An external Application Load Balancer'"
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller-service -d 'The calling Cloud Run service (NAME in --project and --region, projects/P/locations/R/services/S, or its URL): its runtime identity is the caller unless --caller, and its VPC egress decides where its calls arrive from' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller-vm -d 'The calling Compute Engine VM (ZONE/NAME in the service\'s project, or projects/P/zones/Z/instances/N): its service account is the caller unless --caller, and its network decides where its calls arrive from' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller-ip -d 'With --connectivity-test: trace from this internal address in --caller-network instead of a calling service or VM (name the caller with --caller)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller-network -d 'With --caller-ip: its VPC network, NAME in --project or projects/P/global/networks/N' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l caller-job -d 'The calling Cloud Run job (NAME in --project and --region, or projects/P/locations/R/jobs/J): its task\'s service account is the caller unless --caller, and its VPC egress decides where its calls arrive from. A Connectivity Test cannot start from a job (it has no revision to trace from)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l under -d 'With --audit: audit every service of every project below RESOURCE (organizations/N or folders/N), read live, project by project' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l expiring-within -d 'With --audit: report time-bound grants that end within this long (s, m, h, d)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l domain -d 'With --audit: a domain of the organization\'s Cloud Identity; members of other domains are external (repeatable) [default: each organization\'s own domain, as Resource Manager names it]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l interval -d 'With --watch: the time between two polls (one entries.list per project each)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l polls -d 'With --watch: stop after this many polls (1 for a scheduled job whose --since is its schedule)' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s f -l file -d 'Read ServiceSnapshot documents from FILE (- for stdin)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l no-logs -d 'Do not read request logs'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l connectivity-test -d 'Also run a Network Intelligence Center Connectivity Test from --caller-service\'s serving revision, --caller-vm or --caller-ip to the service\'s run.app address on TCP 443, report where the packet leaves (external or through the VPC) or is dropped, and delete the test afterwards. Google charges for each analysis: https://cloud.google.com/network-intelligence-center/pricing'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l keep -d 'With --connectivity-test: keep the test instead of deleting it'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l remote -d 'Also ask the Policy Troubleshooter API and report when it disagrees'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l audit -d 'Audit for exposure instead, with no caller: public services, invoker checks off, grants above services, external and deleted members, expired and expiring grants, basic roles; each finding with its least-privilege fix. Reads ServiceSnapshot documents, or SERVICE, or live with --all every service of --project (--under: of every project below a folder or organization). Exit 1 when any finding is a risk'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l all -d 'With --audit: audit every service of --project, in every region, read live'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l watch -d 'Keep polling the project\'s request logs (or SERVICE\'s) and stream a Diagnosis for each configured caller newly denied (401/403), until SIGINT/SIGTERM'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand troubleshoot" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l member -d 'Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l role -d 'The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role)' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l expires -d 'Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l until -d 'Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l since -d 'Replay the service\'s Cloud Run denials of this window against each grant plan (30m, 1h, 2d): which configured callers the grant fixes, which stay denied and why' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l reason -d 'The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant\'s description' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l backup-dir -d 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s f -l file -d 'Read Diagnosis documents or plans from FILE (- for stdin)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l heal-policy -d 'Fix the Diagnoses on stdin only as far as this YAML allowlist admits (members, services, max_expires, fixes_per_hour), counting every fix in Cloud Monitoring; anything else is refused (exit 4)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'The plan in words'
yaml\t'ChangeRecord documents as YAML'
json\t'ChangeRecord documents, one JSON object per line'
terraform\t'The granted bindings as google_cloud_run_v2_service_iam_member resources'
markdown\t'A page for the team wiki: the change, its diff and blast radius, how to roll it back'"
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l allow-public -d 'Allow what makes the service public: granting allUsers or allAuthenticatedUsers, or turning the invoker check off'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l allow-broad -d 'Allow granting a domain: member or a group of more than 50 accounts (or one whose size cannot be read)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l permanent -d 'Grant without a condition even though the member holds the role under one (a time-bound grant becomes permanent)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l keep-condition -d 'With --expires/--until: replace the member\'s existing time-bound grant instead of adding a second one'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l disable-invoker-check -d 'Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing); needs --allow-public'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l revoke -d 'Remove the --member\'s grants of --role from the service instead (whatever their condition): the same plan, backup and ChangeRecord as a grant, so rollback undoes it'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l revoke-expired -d 'Remove the service\'s time-bound grants (request.time < timestamp(...)) whose time has passed, of any role'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l revoke-deleted -d 'Remove deleted: members (accounts deleted since they were granted) from the service\'s policy, of any role'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l require-evidence -d 'Refuse (exit 4, nothing written) a grant that fixes none of the denials observed in the --since window'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l apply -d 'Write the change (otherwise only plan it)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s y -l yes -d 'Apply without asking for confirmation (needed when there is no terminal)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand grant-invoker" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s f -l file -d 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l list -d 'List the backups under --backup-dir, newest first (of SERVICE only: a name or projects/P/locations/R/services/S); writes nothing' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l last -d 'Restore SERVICE (a name or projects/P/locations/R/services/S) from its newest backup under --backup-dir' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l allow-role -d 'Allow the restore to write back or remove ROLE, a role beyond invoking (repeatable)' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l backup-dir -d 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l merge -d 'When the policy changed since the record (or snapshot), undo only this change (add back only what the snapshot had) and keep the others\' edits'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l force -d 'When the policy changed since, overwrite the others\' edits with the recorded policy'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l allow-public -d 'Allow the restore to make the service public (allUsers, allAuthenticatedUsers, invoker check off)'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l allow-broad -d 'Allow the restore to grant domain: members and large groups'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l apply -d 'Write the change (otherwise only plan it)'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s y -l yes -d 'Apply without asking for confirmation (needed when there is no terminal)'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand rollback" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l as -d 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for), group:, ... [default: the identity of the credential in use: ADC file, gcloud account, metadata server]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l expect -d 'What the call must show: allow (it reaches the container) or deny (Cloud Run\'s 403)' -r -f -a "allow\t'The call gets through Cloud Run to the container'
deny\t'Cloud Run refuses the call with its 403'"
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l url -d 'The URL the caller uses [default: the service\'s URL]; also the audience unless --audience' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l audience -d 'The ID token\'s audience [default: --url; else, for a service account that a Pub/Sub push subscription or Scheduler job uses to call the service, that configuration\'s audience; else the service\'s URL]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l path -d 'The path to call' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l method -d 'The HTTP method to call with' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l id-token-cmd -d 'A shell command that prints the caller\'s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l wait -d 'Retry through IAM propagation for up to this long (30s, 7m) [default: 7m for records applied in the last 7 minutes, else 0]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l requests -d 'Smoke load: send this many requests after the first call (at most 1000 without --force)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l concurrency -d 'Smoke load: requests in flight at once (at most 50 without --force)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l since -d 'The change time for --logs: RFC 3339 (2026-11-28T10:00:00Z) or how long ago (15m) [default: a record\'s appliedAt]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l watch -d 'Once the checks pass, keep reading the service\'s request log for this long (48h, 30m), one Logging entries.list per --interval: exit 1 as soon as Cloud Run refuses a caller again (when, how many, the entries quoted), 0 after a quiet window. --timeout must be longer' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l interval -d 'Time between two reads of --watch (at least 1s; Logging allows 60 reads a minute per project)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l notify -d 'A notification channel for --create-alert: projects/P/notificationChannels/ID, or the ID in the service\'s project (repeatable)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l delete-alert -d 'Delete an alert policy that --create-alert made (projects/P/alertPolicies/ID), and do nothing else; a policy runiam did not make is refused (exit 4)' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l no-new-access -d 'Compare with REFERENCE, a ServiceSnapshot (runiam export) or a ChangeRecord\'s policy before: fail naming every principal × run.* permission on the service that the live state (or a plan\'s, from stdin) gives beyond the intended member × role; ancestors\' grants, deny policies, public principals and the invoker check count' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l member -d 'With --no-new-access: the member the change was meant to grant [default: the ChangeRecord\'s intent]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l role -d 'With --member: the role it was meant to get; every permission of the role is allowed [default: roles/run.invoker]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s f -l file -d 'Read ChangeRecord documents from FILE (- for stdin)' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l force -d 'Lift the smoke load caps'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l logs -d 'Also read the service\'s request logs: no Cloud Run 401/403 may appear after the change time (each is quoted)'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l create-alert -d 'Once the checks pass, create a Cloud Monitoring alert policy whose log-match condition is the --logs filter (Cloud Run 401/403 of the service), so Google watches for the denial\'s return; one already made for the service is reported, not duplicated'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand verify" -s V -l version -d 'Print version'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l as -d 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for) [default: the identity of the credential in use: ADC file, gcloud account, metadata server]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l audience -d 'The ID token\'s audience [default: the URL requests go to]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l tag -d 'Send requests to the URL of this traffic tag (and use it as the audience)' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l port -d 'The port to listen on (0: any free port, printed on stdout)' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l bind -d 'The address to listen on; anything but loopback needs --allow-remote' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l id-token-cmd -d 'A shell command that prints the caller\'s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience), run again to renew it' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l log -d 'Append one line per request to FILE: time, method, path (no query), status, latency, who answered' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l allow-remote -d 'Allow a --bind address other machines can reach: they would call the service as the caller'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l keep-auth -d 'Pass the client\'s own Authorization header to the container and send the ID token in X-Serverless-Authorization'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam -n "__fish_runiam_using_subcommand proxy" -s V -l version -d 'Print version'
