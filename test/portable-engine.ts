// Imported first by a test file: the addon reads these when it loads.
process.env.SHMKIT_WAIT_BACKEND = 'thread';
process.env.SHMKIT_DOORBELL = 'off';
