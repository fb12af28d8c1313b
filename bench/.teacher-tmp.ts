import { startTeacher } from "../test/fixtures/teacher.ts";
const server = await startTeacher(Number(process.argv[2] ?? 0.1), { latencyMs: Number(process.argv[3] ?? 0) });
console.log(server.url);
setInterval(() => {}, 1 << 30);
