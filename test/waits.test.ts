import { defineWaitTests } from './wait-suite.js';

defineWaitTests();
