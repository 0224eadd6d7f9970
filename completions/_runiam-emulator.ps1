
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'runiam-emulator' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'runiam-emulator'
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
        'runiam-emulator' {
            [CompletionResult]::new('--world', '--world', [CompletionResultType]::ParameterName, 'The world file (YAML): organization, folders, projects, services, policies')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on; port 0 picks a free port (the printed URL shows it)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed of every random choice (fault injection), for reproducible runs')
            [CompletionResult]::new('--latency', '--latency', [CompletionResultType]::ParameterName, 'How long every control-plane answer takes, e.g. 50ms or 1s: each leaves no sooner than this after its request')
            [CompletionResult]::new('--fail-rate', '--fail-rate', [CompletionResultType]::ParameterName, 'Share of control-plane requests answered with one of --fail-codes (0 to 1)')
            [CompletionResult]::new('--fail-codes', '--fail-codes', [CompletionResultType]::ParameterName, 'HTTP codes injected failures answer with: 409, 429, 500, 502, 503, 504')
            [CompletionResult]::new('--race-rate', '--race-rate', [CompletionResultType]::ParameterName, 'Chance (0 to 1) that a concurrent writer adds a binding to a service''s policy right after a getIamPolicy, so the client''s etag goes stale')
            [CompletionResult]::new('--commit-then-fail', '--commit-then-fail', [CompletionResultType]::ParameterName, 'Chance (0 to 1) that a setIamPolicy commits and then answers 503')
            [CompletionResult]::new('--propagation-delay', '--propagation-delay', [CompletionResultType]::ParameterName, 'How late IAM and invoker-check changes reach the Cloud Run front end, e.g. 7s')
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
