//! Proves the isolated parser holds: this binary is also the child (env
//! `RAGWAY_ISOLATE_CHILD=<mode>`), which serves the real protocol or misbehaves on purpose
//! (panic, abort, endless loop, endless allocation, garbage, flood, stack overflow, SIGSEGV).
//! Each must end in its clear error while this parent process carries on; the memory and CPU
//! limits must really cut in. A plain `main` (harness = false) because the child mode must
//! run before any test harness starts threads or prints.

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Instant;

use ragway_ingest::hostile;
use ragway_ingest::isolate::{run_isolated, serve_stdio, Isolated, ParserCommand};
use ragway_ingest::{ParseLimits, ParseOptions};

const CHILD: &str = "RAGWAY_ISOLATE_CHILD";

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
    }
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let tests: &[(&str, fn())] = &[
        ("serves_a_real_document", serves_a_real_document),
        (
            "panic_is_reported_with_its_message",
            panic_is_reported_with_its_message,
        ),
        (
            "abort_is_a_crash_with_its_signal",
            abort_is_a_crash_with_its_signal,
        ),
        (
            "segfault_is_a_crash_with_its_signal",
            segfault_is_a_crash_with_its_signal,
        ),
        ("stack_overflow_is_named", stack_overflow_is_named),
        (
            "endless_loop_meets_the_cpu_limit",
            endless_loop_meets_the_cpu_limit,
        ),
        (
            "sleeper_meets_the_wall_clock_deadline",
            sleeper_meets_the_wall_clock_deadline,
        ),
        (
            "endless_allocation_meets_the_memory_limit",
            endless_allocation_meets_the_memory_limit,
        ),
        (
            "garbage_on_stdout_is_not_a_response",
            garbage_on_stdout_is_not_a_response,
        ),
        (
            "flood_on_stdout_meets_the_response_cap",
            flood_on_stdout_meets_the_response_cap,
        ),
        ("missing_program_is_reported", missing_program_is_reported),
        (
            "hostile_files_through_the_protocol",
            hostile_files_through_the_protocol,
        ),
        (
            "docx_bomb_past_raised_parser_limits_meets_the_memory_limit",
            docx_bomb_past_raised_parser_limits_meets_the_memory_limit,
        ),
    ];
    let mut passed = 0;
    let mut failed = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let result = std::panic::catch_unwind(test);
        match result {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("parent peak RSS after all children: {} KiB", peak_rss_kib());
    println!("{passed} passed, {failed} failed");
    std::process::exit(i32::from(failed > 0));
}

/// The child's behaviours.
fn child(mode: &str) -> ! {
    // Read the request first, as the real child does, so the parent's write never blocks.
    let drain = || {
        let mut request = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut request);
    };
    match mode {
        "serve" => std::process::exit(serve_stdio()),
        "panic" => {
            drain();
            panic!("parser bug on purpose");
        }
        "abort" => std::process::abort(),
        "segv" => {
            // SAFETY: raising a signal at ourselves; the default action ends the process.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            unreachable!("SIGSEGV ends the process")
        }
        "stack" => {
            #[allow(unconditional_recursion)] // on purpose: the overflow is the test
            fn recurse(n: u64) -> u64 {
                let pad = black_box([n; 64]);
                black_box(recurse(pad[3] + 1)) + pad[0]
            }
            std::process::exit(recurse(0) as i32)
        }
        "loop" => {
            drain();
            let mut x = 0u64;
            loop {
                x = black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        "sleep" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1000));
        },
        "alloc" => {
            drain();
            let mut held = Vec::new();
            loop {
                // Touched, so the pages are really resident.
                held.push(black_box(vec![1u8; 16 << 20]));
            }
        }
        "garbage" => {
            drain();
            print!("this is not a response frame");
            std::process::exit(0)
        }
        "flood" => {
            drain();
            let chunk = vec![b'x'; 1 << 16];
            let mut out = std::io::stdout().lock();
            loop {
                if out.write_all(&chunk).is_err() {
                    std::process::exit(0);
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn command(mode: &str) -> ParserCommand {
    ParserCommand::new(std::env::current_exe().unwrap()).env(CHILD, mode)
}

fn run(mode: &str, bytes: &[u8], name: &str, limits: &ParseLimits) -> Isolated {
    let started = Instant::now();
    let outcome = run_isolated(
        &command(mode),
        bytes,
        Some(name),
        None,
        &ParseOptions::default(),
        limits,
    );
    println!(
        "  {mode:8} {name:16} {:>8.1?} wall, child peak RSS {:>7} KiB, CPU {:>7.2?}: {}",
        started.elapsed(),
        outcome.stats.peak_rss_kib,
        outcome.stats.cpu,
        match &outcome.result {
            Ok(doc) => format!("ok, {} sections", doc.sections.len()),
            Err(e) => format!("error: {e}"),
        }
    );
    outcome
}

fn error_of(outcome: &Isolated) -> String {
    match &outcome.result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn limits() -> ParseLimits {
    ParseLimits {
        parser_memory_mb: 256,
        parser_cpu_secs: 1,
        parse_timeout_secs: 10,
        max_response_bytes: 1 << 20,
        ..Default::default()
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn serves_a_real_document() {
    let bytes = ragway_ingest::fixtures::docx("Quarterly memo", &["Solar panels on the roof."]);
    let outcome = run("serve", &bytes, "memo.docx", &limits());
    let doc = outcome.result.expect("parsed");
    assert_eq!(doc.title.as_deref(), Some("Quarterly memo"));
    assert!(doc.sections[0].text.contains("Solar panels"));
    assert!(outcome.stats.peak_rss_kib > 0);
}

fn panic_is_reported_with_its_message() {
    let outcome = run("panic", b"x", "a.txt", &limits());
    assert_eq!(
        error_of(&outcome),
        "the parser crashed (exit code 101): parser bug on purpose"
    );
}

fn abort_is_a_crash_with_its_signal() {
    let outcome = run("abort", b"x", "a.txt", &limits());
    assert_eq!(error_of(&outcome), "the parser crashed (signal 6)");
}

fn segfault_is_a_crash_with_its_signal() {
    let outcome = run("segv", b"x", "a.txt", &limits());
    assert_eq!(error_of(&outcome), "the parser crashed (signal 11)");
}

fn stack_overflow_is_named() {
    let outcome = run("stack", b"x", "a.txt", &limits());
    assert_eq!(error_of(&outcome), "the parser crashed (stack overflow)");
}

fn endless_loop_meets_the_cpu_limit() {
    let outcome = run("loop", b"x", "a.txt", &limits());
    assert_eq!(
        error_of(&outcome),
        "the parser used more than 1 s of CPU (ingest.limits.parser_cpu_secs)"
    );
    // The OS stopped it at its CPU budget, well before the 10 s deadline.
    assert!(outcome.stats.cpu.as_secs_f64() < 2.5, "{:?}", outcome.stats);
    assert!(
        outcome.stats.wall.as_secs_f64() < 9.0,
        "{:?}",
        outcome.stats
    );
}

fn sleeper_meets_the_wall_clock_deadline() {
    let limits = ParseLimits {
        parse_timeout_secs: 1,
        ..limits()
    };
    let outcome = run("sleep", b"x", "a.txt", &limits);
    assert_eq!(
        error_of(&outcome),
        "the parser did not finish in 1 s (ingest.limits.parse_timeout_secs)"
    );
    assert!(
        outcome.stats.wall.as_secs_f64() < 3.0,
        "{:?}",
        outcome.stats
    );
}

fn endless_allocation_meets_the_memory_limit() {
    let outcome = run("alloc", b"x", "a.txt", &limits());
    assert_eq!(
        error_of(&outcome),
        "the parser ran out of memory (limit 256 MiB, ingest.limits.parser_memory_mb)"
    );
    // Resident memory never got past the address-space limit.
    assert!(
        outcome.stats.peak_rss_kib <= 256 * 1024,
        "{:?}",
        outcome.stats
    );
    assert!(
        outcome.stats.peak_rss_kib > 128 * 1024,
        "{:?}",
        outcome.stats
    );
}

fn garbage_on_stdout_is_not_a_response() {
    let outcome = run("garbage", b"x", "a.txt", &limits());
    assert_eq!(
        error_of(&outcome),
        "the parser's answer is not a response (bad magic or version)"
    );
}

fn flood_on_stdout_meets_the_response_cap() {
    let outcome = run("flood", b"x", "a.txt", &limits());
    assert_eq!(
        error_of(&outcome),
        "the parser's answer was over 1048576 bytes (ingest.limits.max_response_bytes)"
    );
}

fn missing_program_is_reported() {
    let outcome = run_isolated(
        &ParserCommand::new("/nonexistent/ragway"),
        b"x",
        None,
        None,
        &ParseOptions::default(),
        &limits(),
    );
    let err = error_of(&outcome);
    assert!(
        err.starts_with("the parser could not be started (/nonexistent/ragway: "),
        "{err}"
    );
}

fn hostile_files_through_the_protocol() {
    let limits = ParseLimits {
        parser_memory_mb: 1024,
        parser_cpu_secs: 30,
        parse_timeout_secs: 60,
        ..Default::default()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "deep.html",
            hostile::nested_html("span", 200_000),
            "HTML nesting depth over 512 (ingest.limits.max_depth)",
        ),
        (
            "deep.md",
            hostile::nested_markdown_quotes(50_000),
            "Markdown nesting depth over 512 (ingest.limits.max_depth)",
        ),
        (
            "bomb.docx",
            hostile::docx_bomb(3 << 29),
            "DOCX inflated size over 134217728 bytes (ingest.limits.max_inflated_bytes)",
        ),
        (
            "bomb.pdf",
            hostile::pdf_bomb(3 << 29),
            "PDF inflated stream size over 134217728 bytes (ingest.limits.max_inflated_bytes)",
        ),
        (
            "deep.pdf",
            hostile::pdf_nested_arrays(200_000),
            "PDF object nesting depth over 512 (ingest.limits.max_depth)",
        ),
        (
            "bomb.html",
            hostile::html_formatting_bomb(300, 20_000),
            "HTML elements over 1000000 (ingest.limits.max_elements)",
        ),
    ];
    for (name, bytes, expected) in cases {
        let outcome = run("serve", &bytes, name, &limits);
        assert_eq!(error_of(&outcome), expected);
        assert!(
            outcome.stats.peak_rss_kib < 1024 * 1024,
            "{:?}",
            outcome.stats
        );
    }
}

fn docx_bomb_past_raised_parser_limits_meets_the_memory_limit() {
    // A misconfigured inflate budget (4 GiB) leaves only the OS limit between the bomb and
    // the machine: the child dies at 512 MiB and the document fails with the reason.
    let limits = ParseLimits {
        max_inflated_bytes: 4 << 30,
        max_compression_ratio: 1_000_000,
        parser_memory_mb: 512,
        parser_cpu_secs: 30,
        parse_timeout_secs: 60,
        ..Default::default()
    };
    let outcome = run("serve", &hostile::docx_bomb(3 << 29), "bomb.docx", &limits);
    assert_eq!(
        error_of(&outcome),
        "the parser ran out of memory (limit 512 MiB, ingest.limits.parser_memory_mb)"
    );
    assert!(
        outcome.stats.peak_rss_kib <= 512 * 1024,
        "{:?}",
        outcome.stats
    );
}
