<#
.SYNOPSIS
    Installs (or uninstalls) pkgward on Windows: the binary, its shims, a
    baseline policy, and the shim directory first on PATH.

.DESCRIPTION
    Builds pkgward from this source tree (cargo build --release --locked), or
    with -CargoInstall through `cargo install --locked --path <tree>` into a
    private staging root, or takes an already-built pkgward.exe (a release
    download, or %UserProfile%\.cargo\bin\pkgward.exe after your own
    `cargo install`) with -Binary, and installs it.

    Shims are hard links where the volume allows, else copies; either way
    an upgrade refreshes them (`pkgward shims install` recognises a shim of
    an older pkgward by content and replaces it).

    Per user (default):
      %LocalAppData%\pkgward\bin\pkgward.exe      the binary
      %LocalAppData%\pkgward\shims\               npm.exe, pip.exe, ... (hard links to it)
      %LocalAppData%\pkgward\completions\pkgward.ps1   PowerShell completion
      %AppData%\pkgward\policy.toml               baseline policy, only if you have none
      the user PATH, with the shim directory first (added once)

    For all users (-System, needs an elevated PowerShell):
      %ProgramFiles%\pkgward\bin\pkgward.exe, %ProgramFiles%\pkgward\shims\,
      %ProgramFiles%\pkgward\completions\pkgward.ps1
      %ProgramData%\pkgward\policy.toml           only if absent
      the machine PATH, with the shim directory first (added once), and the
      machine variable PKGWARD_SHIM_DIR

    Running it again changes nothing: files already up to date are kept, shims
    already in place are kept, policies are never overwritten, PATH is not
    given a second copy. -Uninstall removes the binary, shims, completion and
    PATH entry, and keeps policies and audit logs.

.PARAMETER Binary
    Install this pkgward.exe instead of building.
.PARAMETER CargoInstall
    Build with `cargo install --locked --path <this tree>` (into a staging
    directory that is removed afterwards) instead of `cargo build --release`.
.PARAMETER System
    Install for all users (machine-wide). Requires administrator rights.
.PARAMETER Mode
    Mode of a newly written baseline policy: enforce (default) or audit.
    An existing policy is never touched.
.PARAMETER Tools
    Only shim these tools, e.g. -Tools npm,pip
.PARAMETER Force
    Replace files in the shim directory that are not pkgward shims.
.PARAMETER NoModifyPath
    Do not change PATH; print what to add instead.
.PARAMETER Uninstall
    Remove what this script installs (policies and audit logs are kept).

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File installers\install.ps1
.EXAMPLE
    powershell -ExecutionPolicy Bypass -File installers\install.ps1 -System -Binary .\target\release\pkgward.exe
#>
#Requires -Version 5.1
[CmdletBinding()]
param(
    [string]$Binary,
    [switch]$CargoInstall,
    [switch]$System,
    [ValidateSet('enforce', 'audit')]
    [string]$Mode = 'enforce',
    [string[]]$Tools,
    [switch]$Force,
    [switch]$NoModifyPath,
    [switch]$Uninstall
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

function Say([string]$Message) { Write-Host "pkgward-install: $Message" }
function Warn([string]$Message) { [Console]::Error.WriteLine("pkgward-install: warning: $Message") }
function Fail([string]$Message) {
    [Console]::Error.WriteLine("pkgward-install: error: $Message")
    exit 1
}

# Runs a native command; fails with $What if it exits non-zero. Its output
# goes to the console unless -Capture, in which case it is returned.
function Invoke-Native {
    param([string]$What, [string]$Exe, [string[]]$Arguments, [switch]$Capture)
    if ($Capture) {
        $out = & $Exe @Arguments
        $code = $LASTEXITCODE
    } else {
        & $Exe @Arguments | Out-Host
        $code = $LASTEXITCODE
        $out = $null
    }
    if ($code -ne 0) { Fail "$What failed (exit code $code)" }
    return $out
}

# Two paths name the same directory (case-insensitive, trailing '\' ignored).
function Test-SameDir([string]$A, [string]$B) {
    return $A.Trim().TrimEnd('\') -ieq $B.Trim().TrimEnd('\')
}

# ------------------------------------------------------------------ layout
if ($System) {
    $principal = New-Object Security.Principal.WindowsPrincipal ([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Fail '-System installs for all users and changes the machine PATH: run it from an elevated PowerShell (Run as administrator), or install per user without -System'
    }
    $root = Join-Path $env:ProgramFiles 'pkgward'
    $policy = Join-Path (Join-Path $env:ProgramData 'pkgward') 'policy.toml'
    $scope = 'Machine'
    $envKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
    $hive = [Microsoft.Win32.Registry]::LocalMachine
} else {
    if (-not $env:LOCALAPPDATA) { Fail 'LOCALAPPDATA is not set: cannot install per user' }
    $root = Join-Path $env:LOCALAPPDATA 'pkgward'
    # pkgward's user layer: <config dir>\pkgward\policy.toml, the config dir
    # being the roaming AppData folder.
    $policy = Join-Path (Join-Path ([Environment]::GetFolderPath('ApplicationData')) 'pkgward') 'policy.toml'
    $scope = 'User'
    $envKey = 'Environment'
    $hive = [Microsoft.Win32.Registry]::CurrentUser
}
$binDir = Join-Path $root 'bin'
$destBin = Join-Path $binDir 'pkgward.exe'
$shims = Join-Path $root 'shims'
$completion = Join-Path (Join-Path $root 'completions') 'pkgward.ps1'
$repo = Split-Path -Parent $PSScriptRoot

# ------------------------------------------------------------------ PATH
# PATH is read and written in the registry as it is stored (unexpanded), so
# entries such as %USERPROFILE%\bin keep working: reading it through
# [Environment]::GetEnvironmentVariable would expand them, and writing it
# back would freeze them. The write is then announced to running programs
# (Explorer, new terminals) by [Environment]::SetEnvironmentVariable, which
# broadcasts WM_SETTINGCHANGE.
function Get-StoredPath {
    $key = $hive.OpenSubKey($envKey, $false)
    try { return [string]$key.GetValue('Path', '', [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames) }
    finally { $key.Close() }
}

function Set-StoredPath([string]$Value) {
    $key = $hive.OpenSubKey($envKey, $true)
    if ($null -eq $key) { Fail "cannot open the $scope environment for writing" }
    try { $key.SetValue('Path', $Value, [Microsoft.Win32.RegistryValueKind]::ExpandString) }
    finally { $key.Close() }
}

# The PATH entries other than the shim directory.
function Get-OtherEntries([string]$PathValue) {
    return @($PathValue -split ';' | Where-Object { $_ -and -not (Test-SameDir $_ $shims) })
}

# Puts the shim directory first in the stored PATH of $scope, once.
function Add-ShimsToPath {
    $stored = Get-StoredPath
    $new = (@($shims) + (Get-OtherEntries $stored)) -join ';'
    if ($new -ceq $stored) {
        Say "$shims is already first on the $($scope.ToLower()) PATH"
        return $false
    }
    Set-StoredPath $new
    Say "put $shims first on the $($scope.ToLower()) PATH"
    return $true
}

function Remove-ShimsFromPath {
    $stored = Get-StoredPath
    $new = (Get-OtherEntries $stored) -join ';'
    if ($new -cne $stored) {
        Set-StoredPath $new
        Say "removed $shims from the $($scope.ToLower()) PATH"
        return $true
    }
    return $false
}

# Sets PKGWARD_SHIM_DIR for $scope (where `pkgward shims list` and `pkgward
# doctor` look) and, as a side effect, broadcasts the environment change.
function Publish-Environment([string]$ShimDir) {
    [Environment]::SetEnvironmentVariable('PKGWARD_SHIM_DIR', $ShimDir, $scope)
}

# ------------------------------------------------------------------ uninstall
if ($Uninstall) {
    if (Test-Path -LiteralPath $shims) {
        if (Test-Path -LiteralPath $destBin) {
            Invoke-Native 'pkgward shims remove' $destBin @('shims', 'remove', '--dir', $shims)
        }
        if (@(Get-ChildItem -LiteralPath $shims -Force).Count -eq 0) {
            Remove-Item -LiteralPath $shims -Force
        } else {
            Warn "$shims still holds files that are not pkgward shims; left in place"
        }
    }
    foreach ($f in @($destBin, "$destBin.old", $completion)) {
        if (Test-Path -LiteralPath $f) {
            Remove-Item -LiteralPath $f -Force
            Say "removed $f"
        }
    }
    foreach ($d in @($binDir, (Split-Path -Parent $completion))) {
        if ((Test-Path -LiteralPath $d) -and @(Get-ChildItem -LiteralPath $d -Force).Count -eq 0) {
            Remove-Item -LiteralPath $d -Force
        }
    }
    $changed = Remove-ShimsFromPath
    if ((Test-SameDir ([string][Environment]::GetEnvironmentVariable('PKGWARD_SHIM_DIR', $scope)) $shims)) {
        Publish-Environment $null
    } elseif ($changed) {
        Publish-Environment ([Environment]::GetEnvironmentVariable('PKGWARD_SHIM_DIR', $scope))
    }
    if (Test-Path -LiteralPath $policy) {
        Say "kept the policy $policy (delete it yourself if you no longer want it)"
    }
    if ($System) {
        Say 'kept the audit logs (each user''s %LocalAppData%\pkgward\audit.jsonl, or PKGWARD_STATE_DIR)'
    } else {
        $state = if ($env:PKGWARD_STATE_DIR) { $env:PKGWARD_STATE_DIR } else { $root }
        Say "kept the audit log in $state"
    }
    Say "pkgward is uninstalled from $root"
    exit 0
}

# ------------------------------------------------------------------ build
$staging = $null
if ($Binary) {
    if (-not (Test-Path -LiteralPath $Binary -PathType Leaf)) { Fail "-Binary $Binary is not a file" }
    $Binary = (Resolve-Path -LiteralPath $Binary).ProviderPath
} else {
    if (-not (Test-Path -LiteralPath (Join-Path $repo 'Cargo.toml'))) {
        Fail "no Cargo.toml in ${repo}: run the script from a pkgward source tree, or pass -Binary PATH"
    }
    if (-not (Get-Command cargo -ErrorAction SilentlyContinue)) {
        Fail 'cargo not found on PATH: install a Rust toolchain (1.89 or newer), or pass -Binary PATH'
    }
    if ($CargoInstall) {
        $staging = Join-Path ([IO.Path]::GetTempPath()) ("pkgward-install-" + [Guid]::NewGuid())
        Say "building pkgward (cargo install --locked --path $repo) into $staging"
        Invoke-Native 'cargo install' 'cargo' @('install', '--locked', '--path', $repo, '--root', $staging)
        $Binary = Join-Path (Join-Path $staging 'bin') 'pkgward.exe'
        if (-not (Test-Path -LiteralPath $Binary)) { Fail "cargo install succeeded but $Binary is missing" }
    } else {
        Say "building pkgward (cargo build --release --locked) in $repo"
        Push-Location $repo
        try {
            Invoke-Native 'cargo build' 'cargo' @('build', '--release', '--locked')
            $meta = (Invoke-Native 'cargo metadata' 'cargo' @('metadata', '--format-version', '1', '--no-deps') -Capture) -join "`n" | ConvertFrom-Json
        } finally {
            Pop-Location
        }
        $Binary = Join-Path (Join-Path $meta.target_directory 'release') 'pkgward.exe'
        if (-not (Test-Path -LiteralPath $Binary)) { Fail "cargo build succeeded but $Binary is missing" }
    }
}
try {
    $version = [string](& $Binary --version)
} catch {
    Fail "cannot run ${Binary}: $($_.Exception.Message)"
}
if ($LASTEXITCODE -ne 0 -or -not $version.StartsWith('pkgward ')) {
    Fail "$Binary is not pkgward (--version said: $version)"
}

$written = 0
$unchanged = 0

# ------------------------------------------------------------------ binary
New-Item -ItemType Directory -Force -Path $binDir | Out-Null
if ((Test-Path -LiteralPath $destBin) -and
    (Get-FileHash -LiteralPath $destBin).Hash -eq (Get-FileHash -LiteralPath $Binary).Hash) {
    $unchanged++
} else {
    if (Test-Path -LiteralPath $destBin) {
        # The shims are hard links to the old binary, so they stay the old
        # version when it is replaced: remove them with the old binary (which
        # recognises them), and create them anew from the new one below.
        if (Test-Path -LiteralPath $shims) {
            & $destBin shims remove --dir $shims | Out-Host
            if ($LASTEXITCODE -ne 0) {
                Fail "cannot remove the old shims in ${shims}: close programs started through them (npm, pip, ...) and run the installer again"
            }
        }
        # A running .exe cannot be overwritten but can be renamed.
        Remove-Item -LiteralPath "$destBin.old" -Force -ErrorAction SilentlyContinue
        Move-Item -LiteralPath $destBin -Destination "$destBin.old" -Force
    }
    Copy-Item -LiteralPath $Binary -Destination $destBin -Force
    Remove-Item -LiteralPath "$destBin.old" -Force -ErrorAction SilentlyContinue
    Say "wrote $destBin"
    $written++
}

if ($staging) { Remove-Item -LiteralPath $staging -Recurse -Force -ErrorAction SilentlyContinue }

# ------------------------------------------------------------------ shims
$shimArgs = @('shims', 'install', '--dir', $shims)
if ($Tools) { $shimArgs += @('--tools', ($Tools -join ',')) }
if ($Force) { $shimArgs += '--force' }
$out = @(& $destBin @shimArgs)
if ($LASTEXITCODE -ne 0) {
    Fail "pkgward shims install --dir $shims failed (see above; -Force replaces files that are not pkgward shims)"
}
if ($out.Count -gt 0) { Say ($out[0] -replace '^pkgward: ', '') }

# ------------------------------------------------------------------ completion
$text = (Invoke-Native 'pkgward completions powershell' $destBin @('completions', 'powershell') -Capture) -join "`r`n"
$text += "`r`n"
$current = if (Test-Path -LiteralPath $completion) { [IO.File]::ReadAllText($completion) } else { $null }
if ($current -ceq $text) {
    $unchanged++
} else {
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $completion) | Out-Null
    [IO.File]::WriteAllText($completion, $text, (New-Object Text.UTF8Encoding $false))
    Say "wrote $completion"
    $written++
}

# ------------------------------------------------------------------ policy
if (Test-Path -LiteralPath $policy) {
    Say "kept the existing policy $policy"
} else {
    $policyArgs = @('policy', 'init', '--path', $policy)
    if ($Mode -eq 'audit') { $policyArgs += '--audit' }
    # Naming the shim directory makes the registry detection ask the real
    # npm/pip, never our own shims.
    $saved = $env:PKGWARD_SHIM_DIR
    $env:PKGWARD_SHIM_DIR = $shims
    try { Invoke-Native "pkgward policy init --path $policy" $destBin $policyArgs }
    finally { $env:PKGWARD_SHIM_DIR = $saved }
    $written++
}
& $destBin policy check $policy | Out-Null
if ($LASTEXITCODE -ne 0) { Warn "$policy does not validate: run '$destBin policy check $policy'" }

# ------------------------------------------------------------------ PATH
if ($NoModifyPath) {
    Say "PATH not changed (-NoModifyPath); to put the shims first for the $($scope.ToLower()) yourself:"
    Write-Host "  [Environment]::SetEnvironmentVariable('Path', '$shims;' + [Environment]::GetEnvironmentVariable('Path', '$scope'), '$scope')"
} else {
    $pathChanged = Add-ShimsToPath
    $shimVarChanged = -not (Test-SameDir ([string][Environment]::GetEnvironmentVariable('PKGWARD_SHIM_DIR', $scope)) $shims)
    if ($pathChanged -or ($System -and $shimVarChanged)) {
        # Per user the shim directory is pkgward's default already; the
        # variable is set anyway so that the change is broadcast.
        Publish-Environment $shims
        $written++
    }
    # This session too.
    $env:Path = (@($shims) + (Get-OtherEntries $env:Path)) -join ';'
}

if ($written -eq 0) {
    Say "$version is already installed in $root; nothing changed"
} else {
    Say "$version installed in $root ($written written, $unchanged already up to date)"
}
if (-not (@($env:Path -split ';') | Where-Object { $_ -and (Test-SameDir $_ $binDir) })) {
    Say "note: $binDir is not on PATH; run pkgward as $destBin or add that directory to PATH"
}
if (-not $NoModifyPath) {
    Say "new terminals have the shims first on PATH; this PowerShell session already does"
}
Say "PowerShell completion: add this line to your `$PROFILE:"
Write-Host "  . '$completion'"
