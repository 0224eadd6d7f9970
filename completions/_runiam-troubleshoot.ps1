
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-troubleshoot' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-troubleshoot'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'runiam-troubleshoot' {
            [CompletionResult]::new('--caller', '--caller', [CompletionResultType]::ParameterName, 'Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token''s email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs]')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown')
            [CompletionResult]::new('--token-env', '--token-env', [CompletionResultType]::ParameterName, 'Read the token the caller sends from environment variable VAR')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'How far back to read Cloud Run''s request logs (s, m, h, d)')
            [CompletionResult]::new('--saw', '--saw', [CompletionResultType]::ParameterName, 'The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Where the call comes from, overriding what runiam derives (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal) [default: derived from --caller-service, --caller-vm or a discovered caller''s settings, else external]')
            [CompletionResult]::new('--caller-service', '--caller-service', [CompletionResultType]::ParameterName, 'The calling Cloud Run service (NAME in --project and --region, projects/P/locations/R/services/S, or its URL): its runtime identity is the caller unless --caller, and its VPC egress decides where its calls arrive from')
            [CompletionResult]::new('--caller-vm', '--caller-vm', [CompletionResultType]::ParameterName, 'The calling Compute Engine VM (ZONE/NAME in the service''s project, or projects/P/zones/Z/instances/N): its service account is the caller unless --caller, and its network decides where its calls arrive from')
            [CompletionResult]::new('--caller-ip', '--caller-ip', [CompletionResultType]::ParameterName, 'With --connectivity-test: trace from this internal address in --caller-network instead of a calling service or VM (name the caller with --caller)')
            [CompletionResult]::new('--caller-network', '--caller-network', [CompletionResultType]::ParameterName, 'With --caller-ip: its VPC network, NAME in --project or projects/P/global/networks/N')
            [CompletionResult]::new('--caller-job', '--caller-job', [CompletionResultType]::ParameterName, 'The calling Cloud Run job (NAME in --project and --region, or projects/P/locations/R/jobs/J): its task''s service account is the caller unless --caller, and its VPC egress decides where its calls arrive from. A Connectivity Test cannot start from a job (it has no revision to trace from)')
            [CompletionResult]::new('--under', '--under', [CompletionResultType]::ParameterName, 'With --audit: audit every service of every project below RESOURCE (organizations/N or folders/N), read live, project by project')
            [CompletionResult]::new('--expiring-within', '--expiring-within', [CompletionResultType]::ParameterName, 'With --audit: report time-bound grants that end within this long (s, m, h, d)')
            [CompletionResult]::new('--domain', '--domain', [CompletionResultType]::ParameterName, 'With --audit: a domain of the organization''s Cloud Identity; members of other domains are external (repeatable) [default: each organization''s own domain, as Resource Manager names it]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'With --watch: the time between two polls (one entries.list per project each)')
            [CompletionResult]::new('--polls', '--polls', [CompletionResultType]::ParameterName, 'With --watch: stop after this many polls (1 for a scheduled job whose --since is its schedule)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Read ServiceSnapshot documents from FILE (- for stdin)')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read ServiceSnapshot documents from FILE (- for stdin)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format [default: text on a terminal, yaml otherwise]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format [default: text on a terminal, yaml otherwise]')
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]')
            [CompletionResult]::new('--impersonate-service-account', '--impersonate-service-account', [CompletionResultType]::ParameterName, 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target')
            [CompletionResult]::new('--access-token-file', '--access-token-file', [CompletionResultType]::ParameterName, 'Read the access token for API calls from FILE')
            [CompletionResult]::new('--billing-project', '--billing-project', [CompletionResultType]::ParameterName, 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first')
            [CompletionResult]::new('--no-logs', '--no-logs', [CompletionResultType]::ParameterName, 'Do not read request logs')
            [CompletionResult]::new('--connectivity-test', '--connectivity-test', [CompletionResultType]::ParameterName, 'Also run a Network Intelligence Center Connectivity Test from --caller-service''s serving revision, --caller-vm or --caller-ip to the service''s run.app address on TCP 443, report where the packet leaves (external or through the VPC) or is dropped, and delete the test afterwards. Google charges for each analysis: https://cloud.google.com/network-intelligence-center/pricing')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'With --connectivity-test: keep the test instead of deleting it')
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Also ask the Policy Troubleshooter API and report when it disagrees')
            [CompletionResult]::new('--audit', '--audit', [CompletionResultType]::ParameterName, 'Audit for exposure instead, with no caller: public services, invoker checks off, grants above services, external and deleted members, expired and expiring grants, basic roles; each finding with its least-privilege fix. Reads ServiceSnapshot documents, or SERVICE, or live with --all every service of --project (--under: of every project below a folder or organization). Exit 1 when any finding is a risk')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'With --audit: audit every service of --project, in every region, read live')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Keep polling the project''s request logs (or SERVICE''s) and stream a Diagnosis for each configured caller newly denied (401/403), until SIGINT/SIGTERM')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing on stderr but errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing on stderr but errors')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never colour output (the same as --color never)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
