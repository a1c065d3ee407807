<#
.SYNOPSIS
    Build, package and (optionally) publish the Veracity IBKR Connector for Windows.

.DESCRIPTION
    The release checklist of docs/release.md as one script, run from any folder on a Windows
    machine prepared as installer/windows/README.md describes. The version is the one in
    client/pyproject.toml. Each step stops the script when it fails.

    1. virtual environment with the pinned dependencies (.venv)
    2. veracity-release build      PyInstaller onedir build, smoke-tested with --version
    3. veracity-release package    vpk pack: installer + update feed in Releases\ (signed when
                                   -SignParams is given)
    4. veracity-release hash       SHA-256 of the installer, for the release notes
    5. veracity-release publish    only with -Publish: upload to the bucket, verify, go live

.EXAMPLE
    .\installer\windows\build.ps1
.EXAMPLE
    .\installer\windows\build.ps1 -SignParams '/a /fd sha256 /tr http://timestamp.digicert.com /td sha256' -DeltaFrom https://veracity.example/api/v1/downloads/ibkr-connector/windows/updates
.EXAMPLE
    .\installer\windows\build.ps1 -Publish -Bucket veracity-releases -Notes "Faster sync" -DryRun
#>
[CmdletBinding()]
param(
    [string]$SignParams = "",
    [string]$DeltaFrom = "",
    [switch]$Publish,
    [string]$Bucket = "",
    [string]$Notes = "",
    [string]$ReleaseNotesUrl = "",
    [switch]$DryRun,
    [switch]$Force
)

$ErrorActionPreference = "Stop"
$RepoRoot = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $RepoRoot

function Invoke-Step([string]$Title, [scriptblock]$Command) {
    Write-Host "==> $Title" -ForegroundColor Cyan
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "step failed ($LASTEXITCODE): $Title" }
}

if ($Publish -and -not $Bucket) { throw "-Publish needs -Bucket <releases bucket>" }

$Python = Join-Path $RepoRoot ".venv\Scripts\python.exe"
$Release = Join-Path $RepoRoot ".venv\Scripts\veracity-release.exe"

if (-not (Test-Path $Python)) {
    Invoke-Step "create .venv (Python 3.11)" { py -3.11 -m venv .venv }
}
Invoke-Step "install pinned dependencies" {
    & $Python -m pip install --quiet -c constraints.txt -e ./contract -e ./client -e ./release --group dev
}
Invoke-Step "build (PyInstaller)" { & $Release build }

$PackageArgs = @("package")
if ($SignParams) { $PackageArgs += @("--sign-params", $SignParams) }
if ($DeltaFrom) { $PackageArgs += @("--delta-from", $DeltaFrom) }
Invoke-Step "package (vpk pack)" { & $Release @PackageArgs }

Invoke-Step "hash the installer" {
    & $Release hash (Get-ChildItem Releases\*-win-Setup.exe | Select-Object -ExpandProperty FullName)
}

if ($Publish) {
    $PublishArgs = @("publish", "--bucket", $Bucket)
    if ($Notes) { $PublishArgs += @("--notes", $Notes) }
    if ($ReleaseNotesUrl) { $PublishArgs += @("--release-notes-url", $ReleaseNotesUrl) }
    if ($DryRun) { $PublishArgs += "--dry-run" }
    if ($Force) { $PublishArgs += "--force" }
    Invoke-Step "publish to s3://$Bucket" { & $Release @PublishArgs }
    if (-not $DryRun) { Invoke-Step "environment lines" { & $Release env --bucket $Bucket } }
}
Write-Host "done: installer and feed in $RepoRoot\Releases" -ForegroundColor Green
