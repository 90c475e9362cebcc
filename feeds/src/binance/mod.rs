//! Binance spot and USD-M futures market data.
pub mod sim;
