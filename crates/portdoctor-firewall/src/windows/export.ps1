# portdoctor Windows Firewall export (Windows PowerShell 5.1 or PowerShell 7; run as administrator).
# Writes one JSON document to standard output:
#   rules        Get-NetFirewallRule -PolicyStore ActiveStore, each with its six filters joined
#                on InstanceID (port, address, application, service, interface, interface type,
#                security); enums written as their names
#   profiles     Get-NetFirewallProfile -PolicyStore ActiveStore
#   connections  Get-NetConnectionProfile (the network profile of each interface)
#   addresses    Get-NetIPAddress (for LocalSubnet)
#   environment  the variables used in program paths
# Usage:  powershell -NoProfile -ExecutionPolicy Bypass -File export.ps1 > firewall.json
# The reader also accepts the PowerShell 5.1 shapes this script avoids (numeric enums, bare
# objects for one element, {"value":[...],"Count":n}, "" for empty lists).

$ErrorActionPreference = 'Stop'

function Index-ByInstance($items) {
    $map = @{}
    foreach ($i in $items) { $map[[string]$i.InstanceID] = $i }
    return $map
}

function Strings($v) {
    if ($null -eq $v) { return @() }
    return @($v | ForEach-Object { [string]$_ })
}

$store = 'ActiveStore'
$rules = Get-NetFirewallRule -PolicyStore $store
$port = Index-ByInstance (Get-NetFirewallPortFilter -PolicyStore $store)
$addr = Index-ByInstance (Get-NetFirewallAddressFilter -PolicyStore $store)
$app = Index-ByInstance (Get-NetFirewallApplicationFilter -PolicyStore $store)
$svc = Index-ByInstance (Get-NetFirewallServiceFilter -PolicyStore $store)
$ifc = Index-ByInstance (Get-NetFirewallInterfaceFilter -PolicyStore $store)
$ift = Index-ByInstance (Get-NetFirewallInterfaceTypeFilter -PolicyStore $store)
$sec = Index-ByInstance (Get-NetFirewallSecurityFilter -PolicyStore $store)

$outRules = foreach ($r in $rules) {
    $id = [string]$r.InstanceID
    $p = $port[$id]; $a = $addr[$id]; $ap = $app[$id]; $s = $svc[$id]
    $i = $ifc[$id]; $t = $ift[$id]; $x = $sec[$id]
    [ordered]@{
        Name                  = [string]$r.Name
        DisplayName           = [string]$r.DisplayName
        DisplayGroup          = [string]$r.DisplayGroup
        Enabled               = [string]$r.Enabled
        Direction             = [string]$r.Direction
        Action                = [string]$r.Action
        Profile               = [string]$r.Profile
        EdgeTraversalPolicy   = [string]$r.EdgeTraversalPolicy
        PolicyStoreSource     = [string]$r.PolicyStoreSource
        PolicyStoreSourceType = [string]$r.PolicyStoreSourceType
        PortFilter            = [ordered]@{
            Protocol   = [string]$p.Protocol
            LocalPort  = @(Strings $p.LocalPort)
            RemotePort = @(Strings $p.RemotePort)
            IcmpType   = @(Strings $p.IcmpType)
        }
        AddressFilter         = [ordered]@{
            LocalAddress  = @(Strings $a.LocalAddress)
            RemoteAddress = @(Strings $a.RemoteAddress)
        }
        ApplicationFilter     = [ordered]@{ Program = [string]$ap.Program; Package = [string]$ap.Package }
        ServiceFilter         = [ordered]@{ Service = [string]$s.Service }
        InterfaceFilter       = [ordered]@{ InterfaceAlias = @(Strings $i.InterfaceAlias) }
        InterfaceTypeFilter   = [ordered]@{ InterfaceType = [string]$t.InterfaceType }
        SecurityFilter        = [ordered]@{
            Authentication     = [string]$x.Authentication
            Encryption         = [string]$x.Encryption
            OverrideBlockRules = [string]$x.OverrideBlockRules
        }
    }
}

$profiles = foreach ($f in (Get-NetFirewallProfile -PolicyStore $store)) {
    [ordered]@{
        Name                    = [string]$f.Name
        Enabled                 = [string]$f.Enabled
        DefaultInboundAction    = [string]$f.DefaultInboundAction
        AllowInboundRules       = [string]$f.AllowInboundRules
        AllowLocalFirewallRules = [string]$f.AllowLocalFirewallRules
    }
}

$connections = foreach ($c in (Get-NetConnectionProfile)) {
    [ordered]@{ InterfaceAlias = [string]$c.InterfaceAlias; NetworkCategory = [string]$c.NetworkCategory }
}

$addresses = foreach ($n in (Get-NetIPAddress)) {
    [ordered]@{ InterfaceAlias = [string]$n.InterfaceAlias; IPAddress = [string]$n.IPAddress; PrefixLength = [int]$n.PrefixLength }
}

$environment = [ordered]@{}
foreach ($v in 'SystemRoot', 'windir', 'SystemDrive', 'ProgramFiles', 'ProgramFiles(x86)', 'ProgramData', 'USERPROFILE', 'LOCALAPPDATA', 'APPDATA') {
    $val = [Environment]::GetEnvironmentVariable($v)
    if ($val) { $environment[$v] = $val }
}

[ordered]@{
    portdoctor_export = 1
    rules             = @($outRules)
    profiles          = @($profiles)
    connections       = @($connections)
    addresses         = @($addresses)
    environment       = $environment
} | ConvertTo-Json -Depth 6
