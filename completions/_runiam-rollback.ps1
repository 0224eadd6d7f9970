
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-rollback' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-rollback'
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
        'runiam-rollback' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read ChangeRecord or ServiceSnapshot documents from FILE (- for stdin)')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the backups under --backup-dir, newest first (of SERVICE only: a name or projects/P/locations/R/services/S); writes nothing')
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Restore SERVICE (a name or projects/P/locations/R/services/S) from its newest backup under --backup-dir')
            [CompletionResult]::new('--allow-role', '--allow-role', [CompletionResultType]::ParameterName, 'Allow the restore to write back or remove ROLE, a role beyond invoking (repeatable)')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where --apply writes the backup (a ServiceSnapshot) of each service before changing it')
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
            [CompletionResult]::new('--merge', '--merge', [CompletionResultType]::ParameterName, 'When the policy changed since the record (or snapshot), undo only this change (add back only what the snapshot had) and keep the others'' edits')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'When the policy changed since, overwrite the others'' edits with the recorded policy')
            [CompletionResult]::new('--allow-public', '--allow-public', [CompletionResultType]::ParameterName, 'Allow the restore to make the service public (allUsers, allAuthenticatedUsers, invoker check off)')
            [CompletionResult]::new('--allow-broad', '--allow-broad', [CompletionResultType]::ParameterName, 'Allow the restore to grant domain: members and large groups')
            [CompletionResult]::new('--allow-empty', '--allow-empty', [CompletionResultType]::ParameterName, 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)')
            [CompletionResult]::new('--apply', '--apply', [CompletionResultType]::ParameterName, 'Write the change (otherwise only plan it)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking for confirmation (needed when there is no terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking for confirmation (needed when there is no terminal)')
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
