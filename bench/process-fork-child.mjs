// The baseline child of bench/process.mjs: its first IPC message.
process.send('up');
