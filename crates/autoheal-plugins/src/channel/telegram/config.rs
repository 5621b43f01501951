//! `type = "telegram"`: a Telegram bot sends to a chat.

use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_api() -> String {
    "https://api.telegram.org".into()
}

/// `type = "telegram"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather (`123456:ABC-...`): a secret (it
    /// goes in the request path, which is never logged).
    pub bot_token: String,
    /// The chat: a numeric id (`-1001234567890`) or `@channelname`.
    pub chat_id: String,
    /// A forum topic to post in.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Deliver without sound.
    #[serde(default)]
    pub disable_notification: bool,
    /// The Bot API's base URL. Default `https://api.telegram.org`.
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The most one try may take. Default `15s`, 1-30 s.
    #[serde(default = "super::super::default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &super::super::Hidden(Some(&self.bot_token)))
            .field("chat_id", &self.chat_id)
            .field("message_thread_id", &self.message_thread_id)
            .field("disable_notification", &self.disable_notification)
            .field("api_url", &crate::redact_url(&self.api_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}
