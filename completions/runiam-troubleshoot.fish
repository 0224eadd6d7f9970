complete -c runiam-troubleshoot -l caller -d 'Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token\'s email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs]' -r
complete -c runiam-troubleshoot -l token-file -d 'Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown' -r -F
complete -c runiam-troubleshoot -l token-env -d 'Read the token the caller sends from environment variable VAR' -r
complete -c runiam-troubleshoot -l since -d 'How far back to read Cloud Run\'s request logs (s, m, h, d)' -r
complete -c runiam-troubleshoot -l saw -d 'The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run' -r -f -a "401\t''
403\t''
404\t''"
complete -c runiam-troubleshoot -l from -d 'Where the call comes from, overriding what runiam derives (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal) [default: derived from --caller-service, --caller-vm or a discovered caller\'s settings, else external]' -r -f -a "external\t'The internet, or another project\'s network'
internal\t'The project\'s VPC (and same-project Pub/Sub, Scheduler, Eventarc, Tasks)'
load-balancer\t'An external Application Load Balancer'"
complete -c runiam-troubleshoot -l caller-service -d 'The calling Cloud Run service (NAME in --project and --region, projects/P/locations/R/services/S, or its URL): its runtime identity is the caller unless --caller, and its VPC egress decides where its calls arrive from' -r
complete -c runiam-troubleshoot -l caller-vm -d 'The calling Compute Engine VM (ZONE/NAME in the service\'s project, or projects/P/zones/Z/instances/N): its service account is the caller unless --caller, and its network decides where its calls arrive from' -r
complete -c runiam-troubleshoot -l caller-ip -d 'With --connectivity-test: trace from this internal address in --caller-network instead of a calling service or VM (name the caller with --caller)' -r
complete -c runiam-troubleshoot -l caller-network -d 'With --caller-ip: its VPC network, NAME in --project or projects/P/global/networks/N' -r
complete -c runiam-troubleshoot -l caller-job -d 'The calling Cloud Run job (NAME in --project and --region, or projects/P/locations/R/jobs/J): its task\'s service account is the caller unless --caller, and its VPC egress decides where its calls arrive from. A Connectivity Test cannot start from a job (it has no revision to trace from)' -r
complete -c runiam-troubleshoot -l under -d 'With --audit: audit every service of every project below RESOURCE (organizations/N or folders/N), read live, project by project' -r
complete -c runiam-troubleshoot -l expiring-within -d 'With --audit: report time-bound grants that end within this long (s, m, h, d)' -r
complete -c runiam-troubleshoot -l domain -d 'With --audit: a domain of the organization\'s Cloud Identity; members of other domains are external (repeatable) [default: each organization\'s own domain, as Resource Manager names it]' -r
complete -c runiam-troubleshoot -l interval -d 'With --watch: the time between two polls (one entries.list per project each)' -r
complete -c runiam-troubleshoot -l polls -d 'With --watch: stop after this many polls (1 for a scheduled job whose --since is its schedule)' -r
complete -c runiam-troubleshoot -s f -l file -d 'Read ServiceSnapshot documents from FILE (- for stdin)' -r -F
complete -c runiam-troubleshoot -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam-troubleshoot -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-troubleshoot -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-troubleshoot -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-troubleshoot -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-troubleshoot -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-troubleshoot -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-troubleshoot -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-troubleshoot -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-troubleshoot -l no-logs -d 'Do not read request logs'
complete -c runiam-troubleshoot -l connectivity-test -d 'Also run a Network Intelligence Center Connectivity Test from --caller-service\'s serving revision, --caller-vm or --caller-ip to the service\'s run.app address on TCP 443, report where the packet leaves (external or through the VPC) or is dropped, and delete the test afterwards. Google charges for each analysis: https://cloud.google.com/network-intelligence-center/pricing'
complete -c runiam-troubleshoot -l keep -d 'With --connectivity-test: keep the test instead of deleting it'
complete -c runiam-troubleshoot -l remote -d 'Also ask the Policy Troubleshooter API and report when it disagrees'
complete -c runiam-troubleshoot -l audit -d 'Audit for exposure instead, with no caller: public services, invoker checks off, grants above services, external and deleted members, expired and expiring grants, basic roles; each finding with its least-privilege fix. Reads ServiceSnapshot documents, or SERVICE, or live with --all every service of --project (--under: of every project below a folder or organization). Exit 1 when any finding is a risk'
complete -c runiam-troubleshoot -l all -d 'With --audit: audit every service of --project, in every region, read live'
complete -c runiam-troubleshoot -l watch -d 'Keep polling the project\'s request logs (or SERVICE\'s) and stream a Diagnosis for each configured caller newly denied (401/403), until SIGINT/SIGTERM'
complete -c runiam-troubleshoot -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-troubleshoot -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-troubleshoot -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-troubleshoot -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-troubleshoot -s V -l version -d 'Print version'
