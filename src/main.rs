fn main() {
    std::process::exit(cargo_mlops::main_with_args(std::env::args_os()));
}
