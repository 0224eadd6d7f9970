
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
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Run the whole story offline, against the emulator on the example estate')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Snapshot Cloud Run services and their IAM policies')
            [CompletionResult]::new('troubleshoot', 'troubleshoot', [CompletionResultType]::ParameterValue, 'Explain why a caller cannot invoke a Cloud Run service')
            [CompletionResult]::new('grant-invoker', 'grant-invoker', [CompletionResultType]::ParameterValue, 'Grant the least privilege that lets a caller invoke a Cloud Run service')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Undo changes recorded by runiam, or restore services to a snapshot')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'runiam;plugins' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'runiam;demo' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'runiam;export' {
            break
        }
        'runiam;troubleshoot' {
            break
        }
        'runiam;grant-invoker' {
            break
        }
        'runiam;rollback' {
            break
        }
        'runiam;verify' {
            break
        }
        'runiam;help' {
            [CompletionResult]::new('plugins', 'plugins', [CompletionResultType]::ParameterValue, 'List the runiam-* plugins found on PATH')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Run the whole story offline, against the emulator on the example estate')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Snapshot Cloud Run services and their IAM policies')
            [CompletionResult]::new('troubleshoot', 'troubleshoot', [CompletionResultType]::ParameterValue, 'Explain why a caller cannot invoke a Cloud Run service')
            [CompletionResult]::new('grant-invoker', 'grant-invoker', [CompletionResultType]::ParameterValue, 'Grant the least privilege that lets a caller invoke a Cloud Run service')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Undo changes recorded by runiam, or restore services to a snapshot')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Prove that a caller can (or cannot) invoke a Cloud Run service, with a real call as the caller')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'runiam;help;plugins' {
            break
        }
        'runiam;help;demo' {
            break
        }
        'runiam;help;export' {
            break
        }
        'runiam;help;troubleshoot' {
            break
        }
        'runiam;help;grant-invoker' {
            break
        }
        'runiam;help;rollback' {
            break
        }
        'runiam;help;verify' {
            break
        }
        'runiam;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
