/**
 * Keeps the Node.js process alive until released, as an open socket or a pending reconnect timer does:
 * one ref'd timer that never fires. An open `ResilientDispatcher` holds one, so that a program whose only
 * work is producing records (the simulated engine samples on unref'd timers) does not end when its link
 * goes down; MQTT.js and Socket.IO clients hold a process the same way until they are closed.
 */
export function holdProcess(): () => void {
  const timer = setInterval(() => {}, 2 ** 31 - 1);
  return () => clearInterval(timer);
}
