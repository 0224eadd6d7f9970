
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-verify' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-verify'
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
        'runiam-verify' {
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for), group:, ... [default: the identity of the credential in use: ADC file, gcloud account, metadata server]')
            [CompletionResult]::new('--expect', '--expect', [CompletionResultType]::ParameterName, 'What the call must show: allow (it reaches the container) or deny (Cloud Run''s 403)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The URL the caller uses [default: the service''s URL]; also the audience unless --audience')
            [CompletionResult]::new('--audience', '--audience', [CompletionResultType]::ParameterName, 'The ID token''s audience [default: --url; else, for a service account that a Pub/Sub push subscription or Scheduler job uses to call the service, that configuration''s audience; else the service''s URL]')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'The path to call')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'The HTTP method to call with')
            [CompletionResult]::new('--id-token-cmd', '--id-token-cmd', [CompletionResultType]::ParameterName, 'A shell command that prints the caller''s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Retry through IAM propagation for up to this long (30s, 7m) [default: 7m for records applied in the last 7 minutes, else 0]')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Smoke load: send this many requests after the first call (at most 1000 without --force)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Smoke load: requests in flight at once (at most 50 without --force)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'The change time for --logs: RFC 3339 (2026-11-28T10:00:00Z) or how long ago (15m) [default: a record''s appliedAt]')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Once the checks pass, keep reading the service''s request log for this long (48h, 30m), one Logging entries.list per --interval: exit 1 as soon as Cloud Run refuses a caller again (when, how many, the entries quoted), 0 after a quiet window. --timeout must be longer')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between two reads of --watch (at least 1s; Logging allows 60 reads a minute per project)')
            [CompletionResult]::new('--notify', '--notify', [CompletionResultType]::ParameterName, 'A notification channel for --create-alert: projects/P/notificationChannels/ID, or the ID in the service''s project (repeatable)')
            [CompletionResult]::new('--delete-alert', '--delete-alert', [CompletionResultType]::ParameterName, 'Delete an alert policy that --create-alert made (projects/P/alertPolicies/ID), and do nothing else; a policy runiam did not make is refused (exit 4)')
            [CompletionResult]::new('--no-new-access', '--no-new-access', [CompletionResultType]::ParameterName, 'Compare with REFERENCE, a ServiceSnapshot (runiam export) or a ChangeRecord''s policy before: fail naming every principal × run.* permission on the service that the live state (or a plan''s, from stdin) gives beyond the intended member × role; ancestors'' grants, deny policies, public principals and the invoker check count')
            [CompletionResult]::new('--member', '--member', [CompletionResultType]::ParameterName, 'With --no-new-access: the member the change was meant to grant [default: the ChangeRecord''s intent]')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'With --member: the role it was meant to get; every permission of the role is allowed [default: roles/run.invoker]')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Read ChangeRecord documents from FILE (- for stdin)')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read ChangeRecord documents from FILE (- for stdin)')
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
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Lift the smoke load caps')
            [CompletionResult]::new('--logs', '--logs', [CompletionResultType]::ParameterName, 'Also read the service''s request logs: no Cloud Run 401/403 may appear after the change time (each is quoted)')
            [CompletionResult]::new('--create-alert', '--create-alert', [CompletionResultType]::ParameterName, 'Once the checks pass, create a Cloud Monitoring alert policy whose log-match condition is the --logs filter (Cloud Run 401/403 of the service), so Google watches for the denial''s return; one already made for the service is reported, not duplicated')
            [CompletionResult]::new('--allow-empty', '--allow-empty', [CompletionResultType]::ParameterName, 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)')
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
