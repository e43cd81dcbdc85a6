//! The volunteer app's entry point: a desktop window here, the phone app under `dx`.

use sotay::ui::{App, AppConfig};

fn main() {
    sotay::platform::quiet_panics();
    let config = AppConfig::new(sotay::platform::default_db_path());
    #[cfg(feature = "desktop")]
    {
        use dioxus::desktop::{Config, LogicalSize, WindowBuilder};
        let window = WindowBuilder::new().with_title("Sổ tay").with_inner_size(LogicalSize::new(400.0, 800.0));
        dioxus::LaunchBuilder::desktop()
            .with_cfg(Config::new().with_window(window).with_menu(None))
            .with_context(config)
            .launch(App);
    }
    #[cfg(all(feature = "mobile", not(feature = "desktop")))]
    dioxus::LaunchBuilder::mobile().with_context(config).launch(App);
    #[cfg(not(any(feature = "desktop", feature = "mobile")))]
    {
        let _ = config;
        eprintln!("Build with --features desktop or mobile.");
        std::process::exit(2);
    }
}
