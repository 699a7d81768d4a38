#!/usr/bin/env -S node --max-semi-space-size=16
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
