//! `kgpt`: the native command line (init, forward, sample, eval, count, grads, step, train,
//! bench, heads, embeddings).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    quiet_on_closed_stdout();
    std::process::exit(cli::run());
}

/// `kgpt eval … | head`: Rust ignores SIGPIPE, so `println!` into a closed pipe panics. End
/// quietly instead, as a Unix tool killed by SIGPIPE would (exit status 141 = 128 + 13); every
/// other panic keeps the default report.
#[cfg(not(target_arch = "wasm32"))]
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
