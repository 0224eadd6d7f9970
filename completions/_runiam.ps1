
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam'
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
        'runiam' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('plugins', 'plugins', [CompletionResultType]::ParameterValue, 'List the runiam-* plugins found on PATH')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Run the whole story offline, against the emulator on the demo estate')
            [CompletionResult]::new('runbook', 'runbook', [CompletionResultType]::ParameterValue, 'Render saved runiam documents as one Markdown page for the team wiki')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Snapshot Cloud Run services and their IAM policies')
            [CompletionResult]::new('troubleshoot', 'troubleshoot', [CompletionResultType]::ParameterValue, 'Explain why a caller cannot invoke a Cloud Run service')
            [CompletionResult]::new('grant-invoker', 'grant-invoker', [CompletionResultType]::ParameterValue, 'Grant the least privilege that lets a caller invoke a Cloud Run service')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Undo changes recorded by runiam, or restore services to a snapshot')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller')
            break
        }
        'runiam;plugins' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'runiam;demo' {
            [CompletionResult]::new('--world', '--world', [CompletionResultType]::ParameterName, 'A world file to use instead of the embedded examples/demo-world.yaml (its project acme-shop and services are what the acts name)')
            [CompletionResult]::new('--act', '--act', [CompletionResultType]::ParameterName, 'Run only act N (1-based; each act stands on its own)')
            [CompletionResult]::new('--keep-running', '--keep-running', [CompletionResultType]::ParameterName, 'Leave the emulator running at the end and print the environment to replay any act by hand; Ctrl-C stops it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'runiam;runbook' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'runiam;export' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format [default: text on a terminal, yaml otherwise]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format [default: text on a terminal, yaml otherwise]')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write one YAML file per service to DIR/PROJECT/REGION/SERVICE.yaml, ready for git')
            [CompletionResult]::new('--project', '--project', [CompletionResultType]::ParameterName, 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud''s core/project]')
            [CompletionResult]::new('--region', '--region', [CompletionResultType]::ParameterName, 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud''s run/region]')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud''s core/account]')
            [CompletionResult]::new('--impersonate-service-account', '--impersonate-service-account', [CompletionResultType]::ParameterName, 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target')
            [CompletionResult]::new('--access-token-file', '--access-token-file', [CompletionResultType]::ParameterName, 'Read the access token for API calls from FILE')
            [CompletionResult]::new('--billing-project', '--billing-project', [CompletionResultType]::ParameterName, 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud''s billing/quota_project, else the project]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Export every service of the project, in every region')
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
        'runiam;troubleshoot' {
            [CompletionResult]::new('--caller', '--caller', [CompletionResultType]::ParameterName, 'Who is denied: user:, serviceAccount:, group:, principal://..., allUsers [default: the token''s email, else every caller that targets the service: Pub/Sub push, Scheduler, Eventarc, Cloud Tasks queues, Workflows steps, other services seen in the logs]')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the token the caller sends (a token, several, or a pasted Authorization header) from FILE (- for stdin); only its claims are ever shown')
            [CompletionResult]::new('--token-env', '--token-env', [CompletionResultType]::ParameterName, 'Read the token the caller sends from environment variable VAR')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'How far back to read Cloud Run''s request logs (s, m, h, d)')
            [CompletionResult]::new('--saw', '--saw', [CompletionResultType]::ParameterName, 'The status the caller saw (401, 403, 404): no request log for it means the request never reached Cloud Run')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Where the call comes from (same-project Pub/Sub, Scheduler, Eventarc and Tasks count as internal)')
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
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Also ask the Policy Troubleshooter API and report when it disagrees')
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
        'runiam;grant-invoker' {
            [CompletionResult]::new('--member', '--member', [CompletionResultType]::ParameterName, 'Who may invoke: user:, serviceAccount:, group:, domain:, principal://, principalSet://, allUsers or allAuthenticatedUsers')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'The role; another role than roles/run.invoker must carry no permission beyond it (roles/run.servicesInvoker, or a custom role)')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'Make the grant expire after this long (30m, 2h, 7d): a conditional, time-bound binding')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Make the grant expire at this time (RFC 3339, e.g. 2027-01-01T00:00:00Z)')
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
        'runiam;rollback' {
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
        'runiam;verify' {
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
