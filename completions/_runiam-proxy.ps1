
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-proxy' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-proxy'
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
        'runiam-proxy' {
            [CompletionResult]::new('--as', '--as', [CompletionResultType]::ParameterName, 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for) [default: the identity of the credential in use: ADC file, gcloud account, metadata server]')
            [CompletionResult]::new('--audience', '--audience', [CompletionResultType]::ParameterName, 'The ID token''s audience [default: the URL requests go to]')
            [CompletionResult]::new('--tag', '--tag', [CompletionResultType]::ParameterName, 'Send requests to the URL of this traffic tag (and use it as the audience)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The port to listen on (0: any free port, printed on stdout)')
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'The address to listen on; anything but loopback needs --allow-remote')
            [CompletionResult]::new('--id-token-cmd', '--id-token-cmd', [CompletionResultType]::ParameterName, 'A shell command that prints the caller''s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience), run again to renew it')
            [CompletionResult]::new('--log', '--log', [CompletionResultType]::ParameterName, 'Append one line per request to FILE: time, method, path (no query), status, latency, who answered')
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]')
            [CompletionResult]::new('--impersonate-service-account', '--impersonate-service-account', [CompletionResultType]::ParameterName, 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target')
            [CompletionResult]::new('--access-token-file', '--access-token-file', [CompletionResultType]::ParameterName, 'Read the access token for API calls from FILE')
            [CompletionResult]::new('--billing-project', '--billing-project', [CompletionResultType]::ParameterName, 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first')
            [CompletionResult]::new('--allow-remote', '--allow-remote', [CompletionResultType]::ParameterName, 'Allow a --bind address other machines can reach: they would call the service as the caller')
            [CompletionResult]::new('--keep-auth', '--keep-auth', [CompletionResultType]::ParameterName, 'Pass the client''s own Authorization header to the container and send the ID token in X-Serverless-Authorization')
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
