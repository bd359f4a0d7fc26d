// The same wait tests on the portable engine: the waiter thread instead of
// io_uring, and futex waits instead of doorbells (as on macOS, in a container
// whose seccomp profile forbids io_uring, or with SHMKIT_DOORBELL=off).
import './portable-engine.js';
import { expect, it } from 'vitest';
import { native } from '../dist/core/native.js';
import { defineWaitTests } from './wait-suite.js';

it('runs on the waiter thread, without doorbells', () => {
  expect(native.waitBackend()).toBe('thread');
  expect(native.doorbellId()).toBe(0);
});

defineWaitTests();
