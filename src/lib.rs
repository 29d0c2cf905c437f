//! bosun: a chat-ops bot that deploys and announces.
