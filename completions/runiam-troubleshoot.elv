
use builtin;
use str;

set edit:completion:arg-completer[runiam-troubleshoot] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-troubleshoot'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-troubleshoot'= {
            cand --caller 'Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token''s email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs]'
            cand --token-file 'Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown'
            cand --token-env 'Read the token the caller sends from environment variable VAR'
            cand --since 'How far back to read Cloud Run''s request logs (s, m, h, d)'
            cand --saw 'The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run'
            cand --from 'Where the call comes from, overriding what runiam derives (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal) [default: derived from --caller-service, --caller-vm or a discovered caller''s settings, else external]'
            cand --caller-service 'The calling Cloud Run service (NAME in --project and --region, projects/P/locations/R/services/S, or its URL): its runtime identity is the caller unless --caller, and its VPC egress decides where its calls arrive from'
            cand --caller-vm 'The calling Compute Engine VM (ZONE/NAME in the service''s project, or projects/P/zones/Z/instances/N): its service account is the caller unless --caller, and its network decides where its calls arrive from'
            cand --caller-ip 'With --connectivity-test: trace from this internal address in --caller-network instead of a calling service or VM (name the caller with --caller)'
            cand --caller-network 'With --caller-ip: its VPC network, NAME in --project or projects/P/global/networks/N'
            cand --caller-job 'The calling Cloud Run job (NAME in --project and --region, or projects/P/locations/R/jobs/J): its task''s service account is the caller unless --caller, and its VPC egress decides where its calls arrive from. A Connectivity Test cannot start from a job (it has no revision to trace from)'
            cand --under 'With --audit: audit every service of every project below RESOURCE (organizations/N or folders/N), read live, project by project'
            cand --expiring-within 'With --audit: report time-bound grants that end within this long (s, m, h, d)'
            cand --domain 'With --audit: a domain of the organization''s Cloud Identity; members of other domains are external (repeatable) [default: each organization''s own domain, as Resource Manager names it]'
            cand --interval 'With --watch: the time between two polls (one entries.list per project each)'
            cand --polls 'With --watch: stop after this many polls (1 for a scheduled job whose --since is its schedule)'
            cand -f 'Read ServiceSnapshot documents from FILE (- for stdin)'
            cand --file 'Read ServiceSnapshot documents from FILE (- for stdin)'
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
            cand --no-logs 'Do not read request logs'
            cand --connectivity-test 'Also run a Network Intelligence Center Connectivity Test from --caller-service''s serving revision, --caller-vm or --caller-ip to the service''s run.app address on TCP 443, report where the packet leaves (external or through the VPC) or is dropped, and delete the test afterwards. Google charges for each analysis: https://cloud.google.com/network-intelligence-center/pricing'
            cand --keep 'With --connectivity-test: keep the test instead of deleting it'
            cand --remote 'Also ask the Policy Troubleshooter API and report when it disagrees'
            cand --audit 'Audit for exposure instead, with no caller: public services, invoker checks off, grants above services, external and deleted members, expired and expiring grants, basic roles; each finding with its least-privilege fix. Reads ServiceSnapshot documents, or SERVICE, or live with --all every service of --project (--under: of every project below a folder or organization). Exit 1 when any finding is a risk'
            cand --all 'With --audit: audit every service of --project, in every region, read live'
            cand --watch 'Keep polling the project''s request logs (or SERVICE''s) and stream a Diagnosis for each configured caller newly denied (401/403), until SIGINT/SIGTERM'
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
