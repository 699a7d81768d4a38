#!/usr/bin/env -S node --max-semi-space-size=16
import { userInfo } from 'node:os';
import process from 'node:process';
import { execute } from '@oclif/core';

// oclif reads the user's shell from SHELL, else from the passwd entry, before any command runs.
// A container may run as a uid that has no passwd entry (a pod's runAsUser, OpenShift's arbitrary
// uids), where that lookup throws and every command would fail: a plain shell is named instead.
if (process.env.SHELL === undefined) {
  try {
    userInfo();
  } catch {
    process.env.SHELL = '/bin/sh';
  }
}

await execute({ dir: import.meta.url });
