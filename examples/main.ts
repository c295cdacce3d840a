// The main job: a QUIC server and client on loopback moving data. The connection layer arrives with
// the connection issue; until then this program says so plainly.
console.log('quic-actors: the loopback transfer arrives with the connection work (issue 5); nothing to run yet.');
