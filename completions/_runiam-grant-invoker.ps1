
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-grant-invoker' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-grant-invoker'
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
        'runiam-grant-invoker' {
            [CompletionResult]::new('--member', '--member', [CompletionResultType]::ParameterName, 'Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role)')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Replay the service''s Cloud Run denials of this window against each grant plan (30m, 1h, 2d): which configured callers the grant fixes, which stay denied and why')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'The change ticket or reason, recorded in the ChangeRecord and in a time-bound grant''s description')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Read Diagnosis documents or plans from FILE (- for stdin)')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read Diagnosis documents or plans from FILE (- for stdin)')
            [CompletionResult]::new('--heal-policy', '--heal-policy', [CompletionResultType]::ParameterName, 'Fix the Diagnoses on stdin only as far as this YAML allowlist admits (members, services, max_expires, fixes_per_hour), counting every fix in Cloud Monitoring; anything else is refused (exit 4)')
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
            [CompletionResult]::new('--allow-public', '--allow-public', [CompletionResultType]::ParameterName, 'Allow what makes the service public: granting allUsers or allAuthenticatedUsers, or turning the invoker check off')
            [CompletionResult]::new('--allow-broad', '--allow-broad', [CompletionResultType]::ParameterName, 'Allow granting a domain: member or a group of more than 50 accounts (or one whose size cannot be read)')
            [CompletionResult]::new('--permanent', '--permanent', [CompletionResultType]::ParameterName, 'Grant without a condition even though the member holds the role under one (a time-bound grant becomes permanent)')
            [CompletionResult]::new('--keep-condition', '--keep-condition', [CompletionResultType]::ParameterName, 'With --expires/--until: replace the member''s existing time-bound grant instead of adding a second one')
            [CompletionResult]::new('--disable-invoker-check', '--disable-invoker-check', [CompletionResultType]::ParameterName, 'Make the service public by turning its invoker IAM check off instead of granting allUsers (the way that works under domain restricted sharing); needs --allow-public')
            [CompletionResult]::new('--revoke', '--revoke', [CompletionResultType]::ParameterName, 'Remove the --member''s grants of --role from the service instead (whatever their condition): the same plan, backup and ChangeRecord as a grant, so rollback undoes it')
            [CompletionResult]::new('--revoke-expired', '--revoke-expired', [CompletionResultType]::ParameterName, 'Remove the service''s time-bound grants (request.time < timestamp(...)) whose time has passed, of any role')
            [CompletionResult]::new('--revoke-deleted', '--revoke-deleted', [CompletionResultType]::ParameterName, 'Remove deleted: members (accounts deleted since they were granted) from the service''s policy, of any role')
            [CompletionResult]::new('--require-evidence', '--require-evidence', [CompletionResultType]::ParameterName, 'Refuse (exit 4, nothing written) a grant that fixes none of the denials observed in the --since window')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Write the change (otherwise only plan it)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking for confirmation (needed when there is no terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking for confirmation (needed when there is no terminal)')
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
