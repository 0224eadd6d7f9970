
use builtin;
use str;

set edit:completion:arg-completer[runiam-verify] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'runiam-verify'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'runiam-verify'= {
            cand --as 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for), group:, ... [default: the identity of the credential in use: ADC file, gcloud account, metadata server]'
            cand --expect 'What the call must show: allow (it reaches the container) or deny (Cloud Run''s 403)'
            cand --url 'The URL the caller uses [default: the service''s URL]; also the audience unless --audience'
            cand --audience 'The ID token''s audience [default: --url; else, for a service account that a Pub/Sub push subscription or Scheduler job uses to call the service, that configuration''s audience; else the service''s URL]'
            cand --path 'The path to call'
            cand --method 'The HTTP method to call with'
            cand --id-token-cmd 'A shell command that prints the caller''s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience)'
            cand --wait 'Retry through IAM propagation for up to this long (30s, 7m) [default: 7m for records applied in the last 7 minutes, else 0]'
            cand --requests 'Smoke load: send this many requests after the first call (at most 1000 without --force)'
            cand --concurrency 'Smoke load: requests in flight at once (at most 50 without --force)'
            cand --since 'The change time for --logs: RFC 3339 (2026-11-28T10:00:00Z) or how long ago (15m) [default: a record''s appliedAt]'
            cand --watch 'Once the checks pass, keep reading the service''s request log for this long (48h, 30m), one Logging entries.list per --interval: exit 1 as soon as Cloud Run refuses a caller again (when, how many, the entries quoted), 0 after a quiet window. --timeout must be longer'
            cand --interval 'Time between two reads of --watch (at least 1s; Logging allows 60 reads a minute per project)'
            cand --notify 'A notification channel for --create-alert: projects/P/notificationChannels/ID, or the ID in the service''s project (repeatable)'
            cand --delete-alert 'Delete an alert policy that --create-alert made (projects/P/alertPolicies/ID), and do nothing else; a policy runiam did not make is refused (exit 4)'
            cand --no-new-access 'Compare with REFERENCE, a ServiceSnapshot (runiam export) or a ChangeRecord''s policy before: fail naming every principal × run.* permission on the service that the live state (or a plan''s, from stdin) gives beyond the intended member × role; ancestors'' grants, deny policies, public principals and the invoker check count'
            cand --member 'With --no-new-access: the member the change was meant to grant [default: the ChangeRecord''s intent]'
            cand --role 'With --member: the role it was meant to get; every permission of the role is allowed [default: roles/run.invoker]'
            cand -f 'Read ChangeRecord documents from FILE (- for stdin)'
            cand --file 'Read ChangeRecord documents from FILE (- for stdin)'
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
            cand --force 'Lift the smoke load caps'
            cand --logs 'Also read the service''s request logs: no Cloud Run 401/403 may appear after the change time (each is quoted)'
            cand --create-alert 'Once the checks pass, create a Cloud Monitoring alert policy whose log-match condition is the --logs filter (Cloud Run 401/403 of the service), so Google watches for the denial''s return; one already made for the service is reported, not duplicated'
            cand --allow-empty 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
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
