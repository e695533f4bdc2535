fn main() {
    eprintln!("xtask: nothing yet");
    std::process::exit(2);
}
