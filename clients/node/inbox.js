// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

/**
 * Inbox is a queue of items that arrive on their own (events, connections)
 * and are taken in arrival order by a test that awaits them. Every wait has
 * a deadline, so a test fails with a message naming what it waited for
 * instead of hanging.
 */
export class Inbox {
  #items = [];
  #waiters = [];
  #all = [];

  /** name says what the inbox holds, for error messages. */
  constructor(name) {
    this.name = name;
  }

  /** push adds an item, handing it to the oldest waiter if there is one. */
  push(item) {
    this.#all.push(item);
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(item);
    } else {
      this.#items.push(item);
    }
  }

  /** all returns every item pushed so far, taken or not. */
  get all() {
    return [...this.#all];
  }

  /** pending returns the items pushed but not yet taken. */
  get pending() {
    return [...this.#items];
  }

  /**
   * next resolves with the next item, or rejects when none arrives within
   * ms milliseconds.
   */
  next(ms = 10_000) {
    if (this.#items.length > 0) {
      return Promise.resolve(this.#items.shift());
    }
    let waiter;
    const item = new Promise((resolve) => {
      waiter = resolve;
      this.#waiters.push(resolve);
    });
    return within(item, ms, `the next item of ${this.name}`).finally(() => {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
    });
  }

  /** take resolves with the next n items, each within ms milliseconds. */
  async take(n, ms = 10_000) {
    const items = [];
    while (items.length < n) {
      items.push(await this.next(ms));
    }
    return items;
  }
}

/**
 * within resolves or rejects as promise does, or rejects with an error
 * naming what when promise has not settled after ms milliseconds.
 */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
