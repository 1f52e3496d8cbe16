//! The `prod-access` binary: parse, run, exit. Everything else lives in the library.

fn main() {
    std::process::exit(prod_access::commands::main_entry());
}
