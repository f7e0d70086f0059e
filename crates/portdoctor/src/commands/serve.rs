//! `portdoctor serve`: the firewall-friendly reference service (HTTP or HTTPS, `/`,
//! `/healthz`, `/readyz`), with the firewall opened and the service registered on request,
//! and an orderly way down on SIGTERM / Ctrl-C.

use crate::commands::fix::{parse_duration, require_root};
use crate::commands::register::{self, Event, InstanceArgs, emit, serve_error};
use crate::exit::{CliError, Exit};
use crate::output::Output;
use clap::Args;
use portdoctor_serve::app::{self, Readiness};
use portdoctor_serve::bind::{self, Bind};
use portdoctor_serve::lifecycle;
use portdoctor_serve::registry::Endpoint;
use portdoctor_serve::server::{self, Acceptor, Drain};
use portdoctor_serve::signal::Shutdown;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `portdoctor serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor serve                                  HTTP on 8080, IPv6 and IPv4
  portdoctor serve --port 8443 --tls                HTTPS with a fresh self-signed certificate
  portdoctor serve --tls --cert cert.pem --key key.pem
  sudo portdoctor serve --open-firewall --register etcd://10.0.0.5:2379 --name web
  curl http://HOST:8080/readyz                      200 once registered and the firewall is open

Endpoints: / (hello), /healthz (alive), /readyz (ready once registered and the firewall is
open; 503 with the reason before, and while shutting down), /delay/MS (answers after MS
milliseconds, at most 60000: for trying timeouts and shutdown).
At start it warns when it listens on loopback only, or when the local firewall would keep
other machines out (the evidence `diagnose` uses). SIGTERM or Ctrl-C: stop accepting, let
requests in flight finish (at most --drain), deregister, close the firewall opening it made.
Registries: consul://HOST[:8500] (agent API) or etcd://HOST[:2379] (v3 JSON gateway, a lease
kept alive). The address registered is concrete, never the wildcard (printed with the reason).
Exit codes: 0 stopped on a signal after a clean drain; 1 port in use (the holder is named),
registration or firewall opening failed, or the drain limit cut requests; 2 bad usage (a URL
that does not parse, unreadable or mismatched certificate and key); 3 environment (a port
below 1024 without root; --open-firewall without root).")]
pub struct ServeArgs {
    /// TCP port (0: any free port).
    #[arg(long, short, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Listen on this address only (default: every address, IPv6 and IPv4).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    /// Serve HTTPS (rustls). Without --cert/--key a self-signed certificate is made and its
    /// SHA-256 fingerprint printed.
    #[arg(long)]
    pub tls: bool,

    /// Certificate chain (PEM), leaf first.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of the certificate.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,

    /// Write the generated self-signed certificate here (for clients: curl --cacert FILE).
    #[arg(long, value_name = "FILE", requires = "tls", conflicts_with = "cert")]
    pub write_cert: Option<PathBuf>,

    /// Open the port in the local firewall through the fix engine (journaled: `portdoctor
    /// history`), closed again on the way down.
    #[arg(long)]
    pub open_firewall: bool,

    /// Register in consul://HOST[:PORT] or etcd://HOST[:PORT]; deregistered on the way down.
    #[arg(long, value_name = "URL")]
    pub register: Option<String>,

    /// How long requests in flight may take to finish after SIGTERM / Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub drain: u64,

    /// Naming and registration.
    #[command(flatten)]
    pub instance: InstanceArgs,
}

/// Runs `serve`.
pub fn run(args: &ServeArgs, out: &Output) -> Result<Exit, CliError> {
    let endpoint = args
        .register
        .as_deref()
        .map(str::parse::<Endpoint>)
        .transpose()
        .map_err(serve_error)?;
    if args.open_firewall {
        require_root()?;
    }
    let tls = tls(args, *out)?;
    let bind = args.bind.map_or(Bind::DualStack, Bind::Addr);
    let listener = bind::listen(bind, args.port).map_err(serve_error)?;
    // The accept loops run on their own threads (one per core); this runtime drives the rest.
    crate::runtime::runtime()?.block_on(serve(args, listener, tls, endpoint.as_ref(), *out))
}

async fn serve(
    args: &ServeArgs,
    listener: std::net::TcpListener,
    tls: Option<Acceptor>,
    endpoint: Option<&Endpoint>,
    out: Output,
) -> Result<Exit, CliError> {
    let mut shutdown = Shutdown::install()?;
    let readiness = Arc::new(Readiness::default());
    let hello = format!(
        "hello from portdoctor serve ({})\n",
        args.instance.identity.name
    );
    let router = app::router(hello, readiness.clone());
    let limit = Duration::from_secs(args.drain);
    let running = server::start(listener, tls.clone(), router, limit).map_err(serve_error)?;
    let local = running.local_addr;
    announce(out, local, tls.is_some());
    let (svc, chosen) = register::service(
        &args.instance,
        endpoint,
        local.ip(),
        local.port(),
        tls.is_some(),
    );
    if endpoint.is_some() {
        register::announce_address(out, &chosen);
    }
    let plan = register::plan(
        svc,
        endpoint,
        args.instance.ttl,
        args.open_firewall,
        readiness,
        out,
    );
    // The firewall read behind the start-up warning runs while the service registers and
    // opens its port; both are done before "ready".
    let (_, up) = tokio::join!(
        warn_reachability(args, local, out),
        lifecycle::bring_up(plan)
    );
    let up = match up {
        Ok(up) => up,
        Err(e) => {
            running.stop().await;
            return Err(serve_error(e));
        }
    };
    emit(out, &Event::Other(json!({"event": "ready"})), "ready");
    let signal = shutdown.wait().await;
    let text = format!(
        "{signal}: stopping (no new connections; requests in flight get {} s)",
        args.drain
    );
    emit(
        out,
        &Event::Other(json!({"event": "stopping", "signal": signal})),
        &text,
    );
    let drain = running.stop().await;
    report_drain(out, &drain);
    lifecycle::take_down(up).await;
    Ok(if drain.timed_out {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

/// The TLS acceptor: from --cert/--key, or a fresh self-signed certificate.
#[cfg(target_os = "linux")]
fn tls(args: &ServeArgs, out: Output) -> Result<Option<Acceptor>, CliError> {
    use portdoctor_serve::tls;
    if !args.tls {
        return Ok(None);
    }
    let made = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => tls::load(c, k),
        _ => tls::self_signed(certificate_names()),
    }
    .map_err(serve_error)?;
    if let (Some(path), Some(pem)) = (&args.write_cert, &made.generated_pem) {
        std::fs::write(path, pem)
            .map_err(|e| crate::exit::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let what = if made.generated_pem.is_some() {
        "self-signed certificate"
    } else {
        "certificate"
    };
    let text = format!("{what} SHA-256 fingerprint {}", made.fingerprint);
    let event = json!({"event": "certificate", "generated": made.generated_pem.is_some(),
        "sha256": made.fingerprint, "written_to": args.write_cert});
    emit(out, &Event::Other(event), &text);
    Ok(Some(tokio_rustls::TlsAcceptor::from(made.config)))
}

/// TLS is built on Linux only (ring's C code is not built for the cross targets here).
#[cfg(not(target_os = "linux"))]
fn tls(args: &ServeArgs, _out: Output) -> Result<Option<Acceptor>, CliError> {
    if args.tls {
        return Err(crate::exit::environment(
            "--tls: this build has no TLS (Linux builds do)",
        ));
    }
    Ok(None)
}

/// The names a self-signed certificate covers: localhost, the host name, every address.
#[cfg(target_os = "linux")]
fn certificate_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(h.trim().to_string());
    }
    let addrs = crate::gather::local_addresses().unwrap_or_default();
    names.extend(addrs.iter().map(|a| a.addr.to_string()));
    for lo in ["127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == lo) {
            names.push(lo.to_string());
        }
    }
    names.retain(|n| !n.is_empty());
    names.dedup();
    names
}

fn announce(out: Output, local: SocketAddr, tls: bool) {
    let scheme = if tls { "https" } else { "http" };
    let shown = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => {
            format!("every address (IPv6 and IPv4), port {}", local.port())
        }
        ip if ip.is_unspecified() => format!("every IPv4 address, port {}", local.port()),
        _ => local.to_string(),
    };
    let text = format!("serving {scheme} on {shown}");
    let event = json!({"event": "listening", "address": local, "scheme": scheme});
    emit(out, &Event::Other(event), &text);
}

/// Warns when others cannot reach the service: a loopback-only bind, or a firewall that
/// keeps them out (diagnose's evidence and rules, run here for the port).
async fn warn_reachability(args: &ServeArgs, local: SocketAddr, out: Output) {
    let mut warnings = vec![];
    if bind::loopback_only(local) {
        warnings.push(format!(
            "listening on {} only: other machines cannot connect (use --bind 0.0.0.0 or leave --bind out)",
            local.ip()
        ));
    } else if !args.open_firewall {
        let port = local.port();
        let found = tokio::task::spawn_blocking(move || firewall_warnings(port)).await;
        warnings.extend(found.unwrap_or_default());
    }
    for w in warnings {
        emit(
            out,
            &Event::Other(json!({"event": "warning", "text": w})),
            &format!("warning: {w}"),
        );
    }
}

/// Diagnose's error findings about the firewall for `port`, one line each with the fix.
fn firewall_warnings(port: u16) -> Vec<String> {
    use portdoctor_diagnose::{Severity, diagnose};
    let req = crate::gather::Request::local(port, portdoctor_sockets::Proto::Tcp);
    let evidence = crate::gather::gather(&req);
    diagnose(&evidence)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            let fix = f
                .fixes
                .first()
                .map(|x| format!("; fix: {}", x.title))
                .unwrap_or_default();
            format!(
                "{} {}{fix} (or run with --open-firewall)",
                f.code.id(),
                f.summary
            )
        })
        .collect()
}

fn report_drain(out: Output, d: &Drain) {
    let text = if d.timed_out {
        format!(
            "drain limit reached: requests still running on {} connection(s) were cut",
            d.open_at_stop
        )
    } else {
        format!("drained {} connection(s); stopped", d.open_at_stop)
    };
    emit(
        out,
        &Event::Other(json!({"event": "stopped", "drain": d})),
        &text,
    );
}
