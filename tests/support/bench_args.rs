//! The benchmarks' options: `--flag VALUE` on the command line, else the environment variable,
//! else the default.

pub struct BenchArgs(Vec<String>);

impl BenchArgs {
    pub fn from_env() -> BenchArgs {
        BenchArgs(std::env::args().skip(1).collect())
    }

    pub fn text(&self, flag: &str, var: &str, default: &str) -> String {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1).cloned())
            .or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| default.to_owned())
    }

    pub fn number(&self, flag: &str, var: &str, default: &str) -> usize {
        let v = self.text(flag, var, default);
        v.parse()
            .unwrap_or_else(|_| panic!("{flag} / {var}: not a number: {v}"))
    }

    /// An organization's size, `AxF`: (accounts, functions per account).
    pub fn size(&self, flag: &str, var: &str, default: &str) -> (usize, usize) {
        let v = self.text(flag, var, default);
        v.split_once('x')
            .and_then(|(a, f)| Some((a.parse().ok()?, f.parse().ok()?)))
            .unwrap_or_else(|| panic!("{flag}: expected AxF, got {v}"))
    }
}
