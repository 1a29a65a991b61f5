//! The `cellwise` command-line tool.

mod cli;

/// CKKS operations allocate and free many 512 KB polynomial limbs; glibc's allocator hands
/// them back to the OS and faults them in again (a quarter of a rotation's time went to page
/// faults), mimalloc keeps them (see `cellwise::allocator`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cellwise::allocator::keep_freed_pages();
    cli::main()
}
