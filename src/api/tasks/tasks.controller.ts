import { Controller, Get, Header, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/current-user.decorator';
import { outputUrlExample } from '../openapi/examples';
import { TasksService } from './tasks.service';
import { ApiJsonResponse, ApiRawResponse } from '../openapi/response-schemas';

@ApiTags('tasks')
@Controller('api/v2/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Get(':taskId/output-url')
  @ApiOperation({ summary: "Signed URL (8 h) of the task's output mask" })
  @ApiJsonResponse(200, 'OutputUrl', undefined, outputUrlExample)
  outputUrl(@Param('taskId') taskId: string, @CurrentUser() user: string) {
    return this.tasks.outputUrl(taskId, user);
  }

  @Get(':taskId/logs/:stepId')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: "The step's log (every attempt) as text" })
  @ApiRawResponse(200, 'text/plain', { description: 'the log text' })
  logs(@Param('taskId') taskId: string, @Param('stepId') stepId: string, @CurrentUser() user: string): Promise<string> {
    return this.tasks.stepLog(taskId, stepId, user);
  }
}
