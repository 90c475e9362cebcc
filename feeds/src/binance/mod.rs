//! Binance spot and USD-M futures market data.
